/**
 * Server restart mid-run (a known failure of OPC UA clients: sessions leaking on reconnect): the server is shut down and a new one started on the
 * same port with the same node ids; data flows again without restarting the adapter. Reconnection
 * is driven by a ManualClock (so gaps between attempts are measured in clock time, not timed): no
 * two attempts closer than the backoff floor, none further apart than the cap, and exactly one
 * session on the new server after recovery.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpcuaAdapter } from '../../adapters/opcua/adapter.js';
import opcua from '../../adapters/opcua/index.js';
import { OpcuaSimulator } from '../../adapters/opcua/simulator.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { MemorySink } from '../helpers/sink.js';
import { captureLog } from '../helpers/log.js';
import { makeCtx } from './helpers.js';
import { ManualClock } from '../helpers/manual-clock.js';

const CAP_MS = 2000;
let dir: ReturnType<typeof tempDir>;
let sim: OpcuaSimulator | undefined;
let adapter: OpcuaAdapter;
const clock = new ManualClock(Date.now());
const sink = new MemorySink();
const cap = captureLog({ level: 'info' });
let port: number;

beforeAll(async () => {
  dir = tempDir('fgw-opcua-restart-');
  port = await freePort();
  sim = await OpcuaSimulator.start({ port, pkiDir: join(dir.path, 'server') });
  const device = opcua.deviceSchema.parse({
    id: 'lathe-restart',
    protocol: 'opcua',
    interval: '100ms',
    connection: { endpoint: sim.endpoint, reconnectDelay: '500ms', reconnectMaxDelay: CAP_MS, requestTimeout: '3s' },
    tags: [
      { name: 'state', role: 'state', nodeId: 'ns=1;s=Lathe3.State' },
      { name: 'parts', role: 'counter', nodeId: 'ns=1;s=Lathe3.PartCount' },
      { name: 'program', role: 'parameter', nodeId: 'ns=1;s=Lathe3.Program', mode: 'poll' },
    ],
  });
  // the adapter itself (not the module's lazy wrapper): the test reads its connect-attempt counter
  adapter = new OpcuaAdapter(device, { ...makeCtx('lathe-restart', dir.path, sink, cap.log), clock });
  await adapter.start();
});

afterAll(async () => {
  await adapter?.stop();
  await sim?.stop();
  dir?.cleanup();
});

describe('opcua server restart', () => {
  it('resumes data after a restart, one connection attempt per backoff delay, one session after recovery', async () => {
    sim!.set('Lathe3.PartCount', 41);
    await waitFor('parts 41', () => sink.of('parts').find((r) => r.value === 41));
    expect(adapter.connectAttempts).toBe(1);
    expect(sim!.sessionsCreated).toBe(1);

    await sim!.stop();
    sim = undefined;
    await waitFor('disconnected', () => !adapter.status().connected);
    expect(adapter.status().lastError).toMatch(/^GW_ERR_NOT_CONNECTED: connection lost/);

    // while the server is down, walk 10 s of clock time in 100 ms steps and note the clock time at
    // which each attempt started (the adapter's own stamp: a timer can fire anywhere inside a step,
    // so the step's end time would be up to 99 ms off): attempts are never closer than the backoff floor (reconnectDelay / 2) and never
    // further apart than the cap: no storm, no giving up
    const attemptsAt: number[] = [clock.now()];
    expect(sink.last('program')).toMatchObject({ value: 'O1000', quality: 'good' });
    const step = async () => {
      await waitFor('supervisor sleeping on the clock or connected', () => clock.pending() === 1 || adapter.status().connected);
      if (adapter.status().connected) return;
      const before = adapter.connectAttempts;
      await clock.advance(100);
      if (adapter.connectAttempts > before) attemptsAt.push(adapter.lastConnectAttemptAt!);
      expect(adapter.connectAttempts - before).toBeLessThanOrEqual(1);
    };
    const downFrom = clock.now();
    while (clock.now() - downFrom < 10_000) await step();
    const gaps = attemptsAt.slice(1).map((t, i) => t - attemptsAt[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(10_000 / CAP_MS - 1);
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(250);
      expect(g).toBeLessThanOrEqual(CAP_MS + 100);
    }
    expect(adapter.connectAttempts).toBe(attemptsAt.length);
    expect(adapter.status().lastError).toMatch(/^GW_ERR_NOT_CONNECTED: cannot connect/);
    expect(cap.lines.filter((l) => String(l.msg).includes('cannot connect'))).toHaveLength(1);

    sim = await OpcuaSimulator.start({ port, pkiDir: join(dir.path, 'server') });
    sim.set('Lathe3.PartCount', 42);
    const attemptsBefore = adapter.connectAttempts;
    while (!adapter.status().connected) await step();
    await waitFor('parts 42 from the new server', () => sink.of('parts').find((r) => r.value === 42));
    expect(adapter.connectAttempts).toBe(attemptsBefore + 1);
    sim.set('Lathe3.PartCount', 43);
    await waitFor('parts 43', () => sink.of('parts').find((r) => r.value === 43 && r.quality === 'good'));
    // the polled tag resumes too (its timer runs on the same ManualClock)
    sim.set('Lathe3.Program', 'O2000');
    await waitFor('polled O2000 (advancing the clock one poll interval per check)', async () => {
      await clock.advance(100);
      return sink.of('program').some((r) => r.value === 'O2000');
    });
    expect(sim.sessionsCreated).toBe(1);
    expect(sim.liveSessions()).toBe(1);
    expect(cap.lines.filter((l) => l.msg === 'opcua connection restored')).toHaveLength(1);
  });
});
