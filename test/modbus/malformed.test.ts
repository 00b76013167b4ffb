/**
 * Malformed and short answers. No real server can be made to send garbage on demand, so this file
 * uses a MOCK: a raw TCP server that answers each request by a script (garbage, short PDU, wrong
 * transaction id, absurd MBAP length, half a frame then a hang-up, "busy" exception, an answer split
 * in two, another unit's answer). The adapter must turn each into one bad reading with the right
 * code (garbled answers also dead-lettered), never crash, and read good values afterwards.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc16 } from '../../adapters/modbus/frames.js';
import { ModbusAdapter } from '../../adapters/modbus/index.js';
import { freePort } from '../helpers/net.js';
import { ptyPair } from '../helpers/socat.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { MemorySink } from '../helpers/sink.js';
import { makeCtx, modbusDevice } from './support.js';

type Behaviour = 'garbage' | 'short' | 'wrong-tid' | 'absurd-length' | 'half-then-close' | 'busy' | 'split' | 'other-unit' | 'good';

/** MOCK Modbus TCP server: answers FC3 requests as the script says, then with good answers. */
class MockScriptedModbusServer {
  private server: Server | undefined;
  readonly script: Behaviour[];
  served = 0;
  constructor(script: Behaviour[]) {
    this.script = [...script];
  }
  start(port: number): Promise<void> {
    this.server = createServer((sock) => this.onConnection(sock));
    return new Promise((resolve) => this.server!.listen(port, '127.0.0.1', () => resolve()));
  }
  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
  private onConnection(sock: Socket): void {
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 12) {
        const req = buf.subarray(0, 12);
        buf = buf.subarray(12);
        this.answer(sock, req.readUInt16BE(0), req[6]!, req.readUInt16BE(10));
      }
    });
  }
  private answer(sock: Socket, tid: number, unit: number, count: number): void {
    this.served++;
    const b = this.script.shift() ?? 'good';
    const regs = Buffer.alloc(count * 2, 0x01); // every register 0x0101 = 257
    const frame = (t: number, u: number, pdu: Buffer) => {
      const h = Buffer.alloc(7);
      h.writeUInt16BE(t, 0);
      h.writeUInt16BE(0, 2);
      h.writeUInt16BE(pdu.length + 1, 4);
      h[6] = u;
      return Buffer.concat([h, pdu]);
    };
    const good = frame(tid, unit, Buffer.concat([Buffer.from([3, count * 2]), regs]));
    switch (b) {
      case 'garbage':
        sock.write(Buffer.from('this is not modbus at all\r\n'));
        break;
      case 'short':
        sock.write(frame(tid, unit, Buffer.from([3, count * 2, 0x01]))); // byte count says more than follows
        break;
      case 'wrong-tid':
        sock.write(frame((tid + 100) & 0xffff, unit, Buffer.concat([Buffer.from([3, count * 2]), regs])));
        break;
      case 'absurd-length':
        sock.write(Buffer.from([tid >> 8, tid & 0xff, 0, 0, 0xff, 0xff, unit, 3, 2, 0, 1]));
        break;
      case 'half-then-close':
        sock.write(good.subarray(0, 5), () => sock.destroy());
        break;
      case 'busy':
        sock.write(frame(tid, unit, Buffer.from([0x83, 6])));
        break;
      case 'split':
        sock.write(good.subarray(0, 8));
        setTimeout(() => sock.write(good.subarray(8)), 30);
        break;
      case 'other-unit':
        sock.write(frame(tid, (unit + 1) & 0xff, Buffer.concat([Buffer.from([3, count * 2]), regs])));
        break;
      case 'good':
        sock.write(good);
        break;
    }
  }
}

let mock: MockScriptedModbusServer;
let port: number;

beforeAll(async () => {
  port = await freePort();
  mock = new MockScriptedModbusServer(['garbage', 'short', 'wrong-tid', 'absurd-length', 'half-then-close', 'busy', 'split', 'other-unit']);
  await mock.start(port);
});

afterAll(async () => {
  await mock.stop();
});

describe('modbus: malformed and short answers (mock server)', () => {
  it('turns each garbled answer into one bad reading with its code and reads good values afterwards', async () => {
    const sink = new MemorySink();
    const a = new ModbusAdapter(
      modbusDevice({
        id: 'garbled',
        interval: '50ms',
        connection: { host: '127.0.0.1', port, unitId: 1, timeout: '300ms' },
        tags: [{ name: 'v', area: 'holding', address: 0 }],
      }),
      makeCtx(sink),
    );
    await a.start();
    try {
      await waitFor('three good readings after the script', () => sink.good('garbled', 'v') >= 4); // the split answer is good too
    } finally {
      await a.stop();
    }
    const seq = sink.of('garbled', 'v').map((r) => (r.quality === 'good' ? r.value : r.error));
    expect(seq.slice(0, 11)).toEqual(['MALFORMED', 'MALFORMED', 'TIMEOUT', 'MALFORMED', 'CONNECTION_CLOSED', 'MODBUS_EXC_6', 257, 'TIMEOUT', 257, 257, 257]);
    // the three garbled answers are counted and dead-lettered with the request they answered
    expect(a.malformed).toBe(3);
    expect(sink.dead).toHaveLength(3);
    expect(sink.dead.every((d) => d.source === 'modbus' && d.device === 'garbled' && d.reason === 'MALFORMED' && d.topic === 'unit 1 FC3 0+1')).toBe(true);
    expect(Buffer.from(sink.dead[0]!.payload!, 'base64').toString()).toContain('this is not modbus');
  });
});

type RtuBehaviour = 'noise-then-good' | 'bad-crc' | 'wrong-byte-count' | 'other-unit' | 'good';

/** MOCK RTU slave on one end of a pty pair: answers FC3 requests as the script says. */
function mockRtuSlave(path: string, script: RtuBehaviour[]): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate: 19200, autoOpen: false });
  let buf = Buffer.alloc(0);
  const withCrc = (b: Buffer) => {
    const out = Buffer.alloc(b.length + 2);
    b.copy(out);
    out.writeUInt16LE(crc16(b), b.length);
    return out;
  };
  port.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 8) {
      const unit = buf[0]!;
      const count = buf.readUInt16BE(4);
      buf = buf.subarray(8);
      const good = withCrc(Buffer.concat([Buffer.from([unit, 3, count * 2]), Buffer.alloc(count * 2, 0x02)])); // 0x0202 = 514
      switch (script.shift() ?? 'good') {
        case 'noise-then-good':
          port.write(Buffer.concat([Buffer.from([0x00, 0xff, unit, 0x7e, 0x55]), good]));
          break;
        case 'bad-crc': {
          const bad = Buffer.from(good);
          bad[bad.length - 1]! ^= 0xff;
          port.write(bad);
          break;
        }
        case 'wrong-byte-count':
          port.write(withCrc(Buffer.from([unit, 3, count * 2 + 2, ...Buffer.alloc(count * 2 + 2, 0x02)])));
          break;
        case 'other-unit':
          port.write(withCrc(Buffer.concat([Buffer.from([unit + 1, 3, count * 2]), Buffer.alloc(count * 2, 0x02)])));
          break;
        case 'good':
          port.write(good);
          break;
      }
    }
  });
  return new Promise((resolve, reject) => port.open((e) => (e ? reject(e) : resolve(port))));
}

describe('modbus: noisy and garbled RTU answers on a serial line (mock slave)', () => {
  it('finds answers behind line noise, times out on bad CRC or another unit, dead-letters a wrong byte count', async () => {
    const dir = tempDir('fgw-rtu-noise-');
    const pty = await ptyPair(dir.path);
    const slave = await mockRtuSlave(pty.a, ['noise-then-good', 'bad-crc', 'wrong-byte-count', 'other-unit', 'noise-then-good']);
    const sink = new MemorySink();
    const a = new ModbusAdapter(
      modbusDevice({
        id: 'noisy',
        interval: '50ms',
        connection: { serial: { path: pty.b, baudRate: 19200 }, unitId: 4, timeout: '300ms' },
        tags: [{ name: 'v', area: 'holding', address: 0 }],
      }),
      makeCtx(sink),
    );
    await a.start();
    try {
      await waitFor('three good readings after the script', () => sink.good('noisy', 'v') >= 4);
    } finally {
      await a.stop();
      await new Promise((r) => slave.close(r));
      await pty.stop();
      dir.cleanup();
    }
    const seq = sink.of('noisy', 'v').map((r) => (r.quality === 'good' ? r.value : r.error));
    expect(seq.slice(0, 7)).toEqual([514, 'TIMEOUT', 'MALFORMED', 'TIMEOUT', 514, 514, 514]);
    expect(sink.dead).toHaveLength(1);
    expect(sink.dead[0]).toMatchObject({ source: 'modbus', device: 'noisy', reason: 'MALFORMED', topic: 'unit 4 FC3 0+1' });
  });
});
