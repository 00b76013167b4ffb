/**
 * A plain modbus-serial ServerTCP over register arrays: for end-to-end tests that want a Modbus
 * device we did not write ourselves (the adapter's own ModbusSimulator wraps the same server but
 * is part of the product under test). Holding registers are writable.
 */
import ModbusRTU from 'modbus-serial';

export interface TestModbusServer {
  close(): Promise<void>;
}

type RawServer = { close(cb: () => void): void; on(e: string, f: (x: unknown) => void): void };
const ServerTCP = (ModbusRTU as unknown as { ServerTCP: new (vector: object, opts: object) => RawServer }).ServerTCP;

export function serveRegisters(port: number, holding: number[], input: number[] = []): Promise<TestModbusServer> {
  const vector = {
    getHoldingRegister: (addr: number) => holding[addr] ?? 0,
    setRegister: (addr: number, value: number) => {
      holding[addr] = value;
    },
    getInputRegister: (addr: number) => input[addr] ?? 0,
    getCoil: () => false,
    getDiscreteInput: () => false,
  };
  return new Promise((resolve, reject) => {
    const s = new ServerTCP(vector, { host: '127.0.0.1', port, unitID: 1 });
    s.on('initialized', () => resolve({ close: () => new Promise<void>((r) => s.close(() => r())) }));
    s.on('socketError', reject);
  });
}
