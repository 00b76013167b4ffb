/**
 * The line on a ManualClock: reconnect attempts follow the capped, jittered backoff (a request
 * between attempts fails fast, without connecting), forever, and succeed once the device listens;
 * requests never overlap; lines are shared and ref-counted; the RTU frame gap per baud rate.
 */
import { createServer, type Server } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ModbusIoError } from '../../adapters/modbus/frames.js';
import { Line, RECONNECT_CAP_MS, acquireLine, releaseLine, rtuFrameGapMs } from '../../adapters/modbus/line.js';
import { freePort } from '../helpers/net.js';
import { ManualClock } from '../helpers/manual-clock.js';

const log = pino({ level: 'silent' });
const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (e instanceof ModbusIoError ? e.code : String(e)),
  );

describe('modbus line', () => {
  it('reconnects on the backoff schedule, fails fast in between, forever, and recovers when the device listens', async () => {
    const port = await freePort();
    const clock = new ManualClock();
    const line = new Line({ kind: 'tcp', host: '127.0.0.1', port, framing: 'tcp' }, clock, log, 1000);
    const open = () => codeOf(line.exclusive(() => line.ensureOpen()));

    expect(await open()).toBe('NOT_CONNECTED');
    expect(line.counters.connectFailures).toBe(1);
    // before the backoff ends: no connection attempt at all
    expect(await open()).toBe('NOT_CONNECTED');
    expect(await open()).toBe('NOT_CONNECTED');
    expect(line.counters.connectFailures).toBe(1);
    // each time the clock passes the longest possible delay, exactly one more attempt
    for (let i = 2; i <= 12; i++) {
      await clock.advance(RECONNECT_CAP_MS);
      expect(await open()).toBe('NOT_CONNECTED');
      expect(await open()).toBe('NOT_CONNECTED');
      expect(line.counters.connectFailures).toBe(i);
    }
    // the device comes back
    const server = createServer((s) => s.on('error', () => {}));
    servers.push(server);
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    expect(await open()).toBe('NOT_CONNECTED'); // still inside the last backoff
    await clock.advance(RECONNECT_CAP_MS);
    expect(await open()).toBe('ok');
    expect(line.isOpen).toBe(true);
    expect(line.counters).toMatchObject({ connects: 1, connectFailures: 12 });
    line.close();
  });

  it('runs exclusive sections one at a time, in order', async () => {
    const line = new Line({ kind: 'tcp', host: '127.0.0.1', port: 1, framing: 'tcp' }, new ManualClock(), log, 1000);
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    const section = (n: number) =>
      line.exclusive(async () => {
        inside++;
        most = Math.max(most, inside);
        await new Promise((r) => setTimeout(r, 5));
        order.push(n);
        inside--;
        if (n === 2) throw new Error('a failing section does not block the next');
      });
    await Promise.allSettled([1, 2, 3, 4, 5].map(section));
    expect(most).toBe(1);
    expect(order).toEqual([1, 2, 3, 4, 5]);
  });

  it('shares one line per endpoint in ctx.shared, ref-counted', () => {
    const shared = new Map<string, unknown>();
    const clock = new ManualClock();
    const serial = { kind: 'serial', path: '/dev/ttyX', baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1 } as const;
    const a = acquireLine(shared, serial, clock, log, 1000);
    const b = acquireLine(shared, { ...serial }, clock, log, 1000);
    const c = acquireLine(shared, { kind: 'tcp', host: 'h', port: 502, framing: 'tcp' }, clock, log, 1000);
    const d = acquireLine(shared, { kind: 'tcp', host: 'h', port: 502, framing: 'rtu' }, clock, log, 1000);
    expect(a).toBe(b);
    expect(c).not.toBe(d);
    expect([...shared.keys()].sort()).toEqual(['modbus:rtu:h:502', 'modbus:serial:/dev/ttyX', 'modbus:tcp:h:502']);
    releaseLine(shared, a);
    expect(shared.has('modbus:serial:/dev/ttyX')).toBe(true);
    releaseLine(shared, b);
    expect(shared.has('modbus:serial:/dev/ttyX')).toBe(false);
    releaseLine(shared, c);
    releaseLine(shared, d);
    expect(shared.size).toBe(0);
  });

  it.each([
    [1200, 33],
    [9600, 5],
    [19200, 3],
    [38400, 2],
    [115200, 2],
  ])('RTU frame gap at %i baud is %i ms', (baud, ms) => {
    expect(rtuFrameGapMs(baud)).toBe(ms);
  });
});
