/**
 * A hostile Modbus TCP device beside a healthy one, in the real runtime with the real store. No
 * real server can be made to misbehave on demand, so the hostile device is a MOCK (a raw TCP server
 * driven by a seeded random script): random bytes, short frames, answers with a wrong transaction
 * id, unit or function code, exceptions, stalls (no answer), floods of garbage, hang-ups, and now and
 * then a correct answer. The healthy device is modbus-serial's ServerTCP.
 *
 * What must hold: the healthy device keeps its rate (its polls beside the hostile device, counted
 * over a window, against its polls alone over a window of the same length measured in this test;
 * the same margin as the RTU line test: at least half), its readings stay good, the hostile device
 * never puts anything but the values it really served into the store as good, every garbled
 * answer is a bad reading and a dead letter, and the process is still collecting at the end.
 */
import { createServer, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../gateway/config.js';
import { GatewayRuntime } from '../../gateway/runtime.js';
import { seeded } from '../../gateway/demo/plant.js';
import { serveRegisters, type TestModbusServer } from '../helpers/modbus-server.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const SEED = Number(process.env.FGW_FUZZ_SEED ?? 20261203);
/** register value of every wrong-tid / wrong-unit / wrong-function answer: must never be stored */
const POISON = 0xdead;
const WINDOW_MS = 3000;

const BEHAVIOURS = ['good', 'random', 'short', 'wrong-tid', 'wrong-unit', 'wrong-fc', 'exception', 'stall', 'flood', 'close'] as const;
type Behaviour = (typeof BEHAVIOURS)[number];

/** MOCK hostile Modbus TCP device: each FC3 request gets one scripted (seeded random) answer. */
class MockHostileModbusDevice {
  private server: Server | undefined;
  private readonly rand: () => number;
  readonly served = new Map<Behaviour, number>();
  /** values it served in correct answers: the only ones that may be stored as good */
  readonly goodValues = new Set<number>();
  private next = 1;
  constructor(seed: number) {
    this.rand = seeded(seed);
  }
  start(port: number): Promise<void> {
    this.server = createServer((s) => this.onConnection(s));
    return new Promise((resolve) => this.server!.listen(port, '127.0.0.1', () => resolve()));
  }
  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
  get requests(): number {
    let n = 0;
    for (const v of this.served.values()) n += v;
    return n;
  }
  private onConnection(sock: Socket): void {
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 7 && buf.length >= 6 + buf.readUInt16BE(4)) {
        const len = 6 + buf.readUInt16BE(4);
        const req = buf.subarray(0, len);
        buf = buf.subarray(len);
        if (req[7] === 3 && req.length >= 12) this.answer(sock, req.readUInt16BE(0), req[6]!, req.readUInt16BE(10));
      }
    });
  }
  private answer(sock: Socket, tid: number, unit: number, count: number): void {
    const b = BEHAVIOURS[Math.floor(this.rand() * BEHAVIOURS.length)]!;
    this.served.set(b, (this.served.get(b) ?? 0) + 1);
    const frame = (t: number, u: number, pdu: Buffer) => {
      const h = Buffer.alloc(7);
      h.writeUInt16BE(t, 0);
      h.writeUInt16BE(0, 2);
      h.writeUInt16BE(pdu.length + 1, 4);
      h[6] = u;
      return Buffer.concat([h, pdu]);
    };
    const regs = (v: number) => {
      const r = Buffer.alloc(count * 2);
      for (let i = 0; i < count; i++) r.writeUInt16BE(v, i * 2);
      return r;
    };
    const random = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(this.rand() * 256)));
    if (sock.destroyed) return;
    switch (b) {
      case 'good': {
        const v = this.next++ % 50_000;
        this.goodValues.add(v);
        sock.write(frame(tid, unit, Buffer.concat([Buffer.from([3, count * 2]), regs(v)])));
        break;
      }
      case 'random':
        sock.write(random(1 + Math.floor(this.rand() * 300)));
        break;
      case 'short':
        sock.write(frame(tid, unit, Buffer.from([3, count * 2, 0x01])));
        break;
      case 'wrong-tid':
        sock.write(frame((tid + 1 + Math.floor(this.rand() * 1000)) & 0xffff, unit, Buffer.concat([Buffer.from([3, count * 2]), regs(POISON)])));
        break;
      case 'wrong-unit':
        sock.write(frame(tid, (unit + 1) & 0xff, Buffer.concat([Buffer.from([3, count * 2]), regs(POISON)])));
        break;
      case 'wrong-fc':
        sock.write(frame(tid, unit, Buffer.concat([Buffer.from([4, count * 2]), regs(POISON)])));
        break;
      case 'exception':
        sock.write(frame(tid, unit, Buffer.from([0x83, 4])));
        break;
      case 'stall':
        break;
      case 'flood':
        sock.write(random(64 * 1024));
        break;
      case 'close':
        sock.destroy();
        break;
    }
  }
}

const dirs: Array<ReturnType<typeof tempDir>> = [];
let healthy: TestModbusServer;
let healthyPort = 0;
let hostile: MockHostileModbusDevice;
let hostilePort = 0;

beforeAll(async () => {
  healthyPort = await freePort();
  healthy = await serveRegisters(healthyPort, [7, 0, 8]);
  hostilePort = await freePort();
  hostile = new MockHostileModbusDevice(SEED);
  await hostile.start(hostilePort);
});
afterAll(async () => {
  await healthy?.close();
  await hostile?.stop();
  for (const d of dirs) d.cleanup();
});

async function runtime(withHostile: boolean): Promise<GatewayRuntime> {
  const dir = tempDir('fgw-hostile-mb-');
  dirs.push(dir);
  const devices = [
    `  - { id: healthy, protocol: modbus, interval: 50ms, connection: { host: 127.0.0.1, port: ${healthyPort}, unitId: 1, timeout: 500ms }, tags: [{ name: a, area: holding, address: 0 }, { name: b, area: holding, address: 1, type: uint32 }] }`,
    withHostile
      ? `  - { id: hostile, protocol: modbus, interval: 20ms, demotedMaxInterval: 200ms, connection: { host: 127.0.0.1, port: ${hostilePort}, unitId: 1, timeout: 100ms }, tags: [{ name: v, area: holding, address: 0 }, { name: w, area: holding, address: 1 }] }`
      : '',
  ];
  const config = parseConfigText(
    `gateway: { id: chaos, statusInterval: 1s, logLevel: silent }\nstorage: { path: ${dir.path} }\ndevices:\n${devices.join('\n')}\n`,
    { env: {} },
  );
  return GatewayRuntime.start({ config, log: pino({ level: 'silent' }) });
}

const goodOf = (rt: GatewayRuntime, device: string) =>
  rt.store.query({ device, measurement: 'data', tag: 'a', limit: 1_000_000 }).filter((r) => r.quality === 'good').length;

describe('a hostile Modbus device beside a healthy one', () => {
  it('the healthy device keeps its rate and its good readings; the hostile one never stores garbage as good', async () => {
    // the reference: the healthy device alone, over one window
    const alone = await runtime(false);
    await waitFor('the healthy device polling', () => goodOf(alone, 'healthy') > 0);
    const a0 = goodOf(alone, 'healthy');
    await new Promise((r) => setTimeout(r, WINDOW_MS)); // a measuring window, not a wait for a condition
    const refPolls = goodOf(alone, 'healthy') - a0;
    await alone.stop();

    // the same beside the hostile device, once it has gone through its whole script
    const rt = await runtime(true);
    await waitFor('the hostile device at work', () => hostile.requests >= 20);
    const b0 = goodOf(rt, 'healthy');
    const start = hostile.requests;
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const livePolls = goodOf(rt, 'healthy') - b0;
    await waitFor('every kind of hostile answer served', () => BEHAVIOURS.every((b) => (hostile.served.get(b) ?? 0) >= 3), { timeoutMs: 60_000 });
    const during = hostile.requests - start;
    // still collecting after the whole script
    const c0 = goodOf(rt, 'healthy');
    await waitFor('the healthy device still polled', () => goodOf(rt, 'healthy') > c0 + 5);

    expect(refPolls).toBeGreaterThan(10);
    expect(during).toBeGreaterThan(10);
    expect(
      livePolls * 2,
      `healthy polls beside the hostile device ${livePolls}, alone ${refPolls}; hostile answers ${JSON.stringify(Object.fromEntries(hostile.served))}`,
    ).toBeGreaterThanOrEqual(refPolls);

    const store = rt.store;
    const healthyRows = store.query({ device: 'healthy', measurement: 'data', limit: 1_000_000 });
    expect(
      healthyRows.every((r) => r.quality === 'good' && r.value === (r.tag === 'a' ? 7 : 8)),
      'the healthy device read only its own values',
    ).toBe(true);
    const hostileRows = store.query({ device: 'hostile', measurement: 'data', limit: 1_000_000 });
    const good = hostileRows.filter((r) => r.quality === 'good');
    expect(good.length).toBeGreaterThan(0);
    for (const r of good) {
      expect(r.value).not.toBe(POISON);
      expect(hostile.goodValues.has(r.value as number), `stored ${String(r.value)} the device never served as good`).toBe(true);
    }
    const errors = new Set(hostileRows.filter((r) => r.quality === 'bad').map((r) => r.error));
    expect([...errors].sort()).toEqual(expect.arrayContaining(['MALFORMED', 'MODBUS_EXC_4', 'TIMEOUT']));
    expect(store.deadLetters({ source: 'modbus', limit: 100_000 }).length).toBeGreaterThan(0);
    await rt.stop();
  });
});
