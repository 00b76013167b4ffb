/**
 * A Modbus device simulator for tests and the demo plant: configurable registers for several unit
 * ids, served over TCP (modbus-serial's ServerTCP) and RTU on a serial port (ServerSerial). A unit
 * or an address range can be told to answer with an exception or to go silent; units not
 * configured stay silent, as a missing RTU slave does.
 */
import { createRequire } from 'node:module';
import type { IServiceVector, ServerSerial as ServerSerialT, ServerTCP as ServerTCPT } from 'modbus-serial';
import { compileTag, encodeRegisters } from './codec.js';
import { type Area, type ByteOrder, type ModbusType, tagSchema } from './schema.js';

const require = createRequire(import.meta.url);
const modbusSerial = require('modbus-serial') as { ServerTCP: typeof ServerTCPT; ServerSerial?: typeof ServerSerialT };

export interface UnitMemory {
  coil: Uint8Array;
  discrete: Uint8Array;
  holding: Uint16Array;
  input: Uint16Array;
}

export type SimFault = { unit: number; area?: Area; from?: number; to?: number } & ({ kind: 'exception'; code: number } | { kind: 'silent' });

export interface SimSerialOptions {
  path: string;
  baudRate?: number;
  parity?: 'none' | 'even' | 'odd';
  dataBits?: 7 | 8;
  stopBits?: 1 | 2;
}

const NEVER = new Promise<never>(() => {});

export class ModbusSimulator {
  readonly units = new Map<number, UnitMemory>();
  private faults: SimFault[] = [];
  private tcp: ServerTCPT | undefined;
  private serial: ServerSerialT | undefined;
  /** read requests served (or refused with an exception) per unit */
  readonly reads = new Map<number, number>();
  /** write requests per unit */
  readonly writes = new Map<number, number>();
  /** TCP connections accepted since start */
  connections = 0;
  port = 0;

  constructor(unitIds: readonly number[] = [1]) {
    for (const u of unitIds) this.addUnit(u);
  }

  addUnit(unit: number): UnitMemory {
    const m: UnitMemory = { coil: new Uint8Array(65536), discrete: new Uint8Array(65536), holding: new Uint16Array(65536), input: new Uint16Array(65536) };
    this.units.set(unit, m);
    return m;
  }

  private mem(unit: number): UnitMemory {
    const m = this.units.get(unit);
    if (!m) throw new Error(`simulator has no unit ${unit}`);
    return m;
  }

  setRegisters(unit: number, area: 'holding' | 'input', address: number, regs: readonly number[]): void {
    this.mem(unit)[area].set(
      regs.map((r) => r & 0xffff),
      address,
    );
  }

  getRegisters(unit: number, area: 'holding' | 'input', address: number, count: number): number[] {
    return Array.from(this.mem(unit)[area].subarray(address, address + count));
  }

  setBits(unit: number, area: 'coil' | 'discrete', address: number, bits: readonly boolean[]): void {
    this.mem(unit)[area].set(
      bits.map((b) => (b ? 1 : 0)),
      address,
    );
  }

  getBit(unit: number, area: 'coil' | 'discrete', address: number): boolean {
    return this.mem(unit)[area][address] === 1;
  }

  /** Sets a typed value the way a device with that byte order would hold it. */
  set(
    unit: number,
    area: Area,
    address: number,
    type: ModbusType,
    value: number | boolean | string,
    opts: { byteOrder?: ByteOrder; length?: number; bit?: number } = {},
  ): void {
    if (area === 'coil' || area === 'discrete') return this.setBits(unit, area, address, [value === true || value === 1]);
    if (opts.bit !== undefined) {
      const m = this.mem(unit)[area];
      m[address] = value ? m[address]! | (1 << opts.bit) : m[address]! & ~(1 << opts.bit);
      return;
    }
    const t = compileTag(tagSchema.parse({ name: 'sim', area, address, type, byteOrder: opts.byteOrder ?? 'ABCD', length: opts.length }), 0);
    this.setRegisters(unit, area, address, encodeRegisters(t, value));
  }

  /** Adds a fault; returns a function that removes it. */
  fault(f: SimFault): () => void {
    this.faults.push(f);
    return () => {
      this.faults = this.faults.filter((x) => x !== f);
    };
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** The fault that applies to a request, if any. */
  private faultFor(unit: number, area: Area, address: number, count: number): SimFault | undefined {
    return this.faults.find(
      (f) =>
        f.unit === unit &&
        (f.area === undefined || f.area === area) &&
        (f.from === undefined || address + count - 1 >= f.from) &&
        (f.to === undefined || address <= f.to),
    );
  }

  private count(map: Map<number, number>, unit: number): void {
    map.set(unit, (map.get(unit) ?? 0) + 1);
  }

  /** Values for a read, NEVER (silent) or a thrown exception. */
  private read<T>(unit: number, area: Area, address: number, count: number, pick: (m: UnitMemory) => T): T {
    const m = this.units.get(unit);
    if (!m) return NEVER as T; // no such slave: silence
    const f = this.faultFor(unit, area, address, count);
    if (f?.kind === 'silent') return NEVER as T;
    this.count(this.reads, unit);
    if (f?.kind === 'exception') throw { modbusErrorCode: f.code, msg: `simulated exception ${f.code}` };
    return pick(m);
  }

  private vector(): IServiceVector {
    // modbus-serial calls the single getters once per register/bit; the multi getters once per request
    let bitRequest: { unit: number; area: Area; next: number } | undefined;
    const bit = (area: 'coil' | 'discrete') => (addr: number, unit: number) => {
      // count a coil/discrete request once, at its first bit
      const first = !bitRequest || bitRequest.unit !== unit || bitRequest.area !== area || bitRequest.next !== addr;
      bitRequest = { unit, area, next: addr + 1 };
      const m = this.units.get(unit);
      if (!m) return NEVER;
      const f = this.faultFor(unit, area, addr, 1);
      if (f?.kind === 'silent') return NEVER;
      if (first) this.count(this.reads, unit);
      if (f?.kind === 'exception') throw { modbusErrorCode: f.code };
      return m[area][addr] === 1;
    };
    const regs = (area: 'holding' | 'input') => (addr: number, length: number, unit: number) => {
      const v = this.read<unknown[]>(unit, area, addr, length, (m) => Array.from(m[area].subarray(addr, addr + length)));
      // modbus-serial wants an array here; an array of never-settling values keeps the server silent
      return (v as unknown) === NEVER ? new Array<Promise<never>>(length).fill(NEVER) : v;
    };
    const reg = (area: 'holding' | 'input') => (addr: number, unit: number) => this.read(unit, area, addr, 1, (m) => m[area][addr]!);
    const write = (area: Area, addr: number, unit: number, apply: (m: UnitMemory) => void) => {
      const m = this.units.get(unit);
      if (!m) return NEVER;
      const f = this.faultFor(unit, area, addr, 1);
      if (f?.kind === 'silent') return NEVER;
      this.count(this.writes, unit);
      if (f?.kind === 'exception') throw { modbusErrorCode: f.code };
      apply(m);
      return undefined;
    };
    return {
      getCoil: bit('coil'),
      getDiscreteInput: bit('discrete'),
      getHoldingRegister: reg('holding'),
      getInputRegister: reg('input'),
      getMultipleHoldingRegisters: regs('holding'),
      getMultipleInputRegisters: regs('input'),
      setCoil: (addr: number, value: boolean, unit: number) => write('coil', addr, unit, (m) => (m.coil[addr] = value ? 1 : 0)),
      setRegister: (addr: number, value: number, unit: number) => write('holding', addr, unit, (m) => (m.holding[addr] = value)),
      setRegisterArray: (addr: number, values: number[], unit: number) => write('holding', addr, unit, (m) => m.holding.set(values, addr)),
    } as IServiceVector;
  }

  /** Serves over TCP on host:port (port must be a real port: modbus-serial treats 0 as 502). */
  startTcp(port: number, host = '127.0.0.1'): Promise<void> {
    if (!port) throw new Error('ModbusSimulator.startTcp needs a real port (0 means 502 to modbus-serial)');
    this.port = port;
    return new Promise((resolve, reject) => {
      const server = new modbusSerial.ServerTCP(this.vector(), { host, port, unitID: 255 });
      server.on('initialized', () => {
        // count accepted TCP connections (tests of closeAfterPoll and reconnects)
        const net = (server as unknown as { _server?: import('node:net').Server })._server;
        net?.on('connection', () => this.connections++);
        resolve();
      });
      server.on('serverError', (e: Error | null) => reject(e ?? new Error('modbus server error')));
      server.on('socketError', () => {});
      server.on('error', () => {});
      this.tcp = server;
    });
  }

  /** Serves RTU on a serial port (e.g. one end of a socat pty pair). */
  startSerial(opts: SimSerialOptions): Promise<void> {
    const ServerSerial = modbusSerial.ServerSerial;
    if (!ServerSerial) throw new Error('modbus-serial was installed without serialport: no ServerSerial');
    return new Promise((resolve, reject) => {
      const server = new ServerSerial(this.vector(), {
        path: opts.path,
        baudRate: opts.baudRate ?? 9600,
        parity: opts.parity ?? 'none',
        dataBits: opts.dataBits ?? 8,
        stopBits: opts.stopBits ?? 1,
        unitID: 255,
        openCallback: (err: Error | null) => (err ? reject(err) : resolve()),
      } as never);
      server.on('error', () => {});
      server.on('socketError', () => {});
      this.serial = server;
    });
  }

  async stop(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const s of [this.tcp, this.serial]) {
      if (s) closing.push(new Promise<void>((resolve) => s.close(() => resolve())));
    }
    this.tcp = undefined;
    this.serial = undefined;
    await Promise.all(closing);
  }
}
