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

/**
 * `holding` as an array, or a function of the address (called once per register per request); a
 * function may answer with a promise, so a test can have the device answer slowly.
 */
export function serveRegisters(
  port: number,
  holding: number[] | ((addr: number) => number | Promise<number>),
  input: number[] = [],
): Promise<TestModbusServer> {
  const read = typeof holding === 'function' ? holding : (addr: number) => holding[addr] ?? 0;
  const vector = {
    getHoldingRegister: (addr: number) => read(addr),
    setRegister: (addr: number, value: number) => {
      if (Array.isArray(holding)) holding[addr] = value;
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
