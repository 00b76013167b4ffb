/**
 * End to end, real processes: two Modbus TCP machines (modbus-serial servers) → the gateway process
 * (`fgw run`) → embedded store → forwarder → a real influxd, with the MES reading and the operator
 * commanding through the gateway's API (audited). The saw is switched off (its server closed) for
 * 10 s in the middle of the window. Then `fgw verify --source store` and `--source influx` must give
 * the same result, and that result must show what happened: the press reporting every slot, the saw
 * missing every slot it was off, the MES reads and the command we made counted.
 *
 * The project points to its own policy file (a copy of the shipped one with 2 s slots and a 10 s
 * stale floor) so that a run of about a minute has enough slots to judge.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVerify } from '../../verify/cli.js';
import { loadPolicy } from '../../verify/policy.js';
import { startInflux, type TestInflux } from '../helpers/influx.js';
import { serveRegisters, type TestModbusServer } from '../helpers/modbus-server.js';
import { freePort } from '../helpers/net.js';
import { startProcess, type Proc } from '../helpers/proc.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fgw = join(root, 'gateway/bin/fgw.js');
const SLOT = 2000;
const OFF_MS = 10_000;


const MES = 'mes-token-e2e-0001';
const OPERATOR = 'operator-token-e2e-0001';

let influx: TestInflux;
let gw: Proc | undefined;
const servers: TestModbusServer[] = [];
const dir = tempDir('fgw-verify-e2e-');

afterAll(async () => {
  await gw?.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.close()));
  await influx?.cleanup();
  dir.cleanup();
});

function runCli(args: string[]) {
  let out = '';
  let err = '';
  return runVerify(args, { out: (s) => (out += s), err: (s) => (err += s) }).then((code) => ({ code, out, err }));
}

describe('a simulated line through the gateway, verified from the store and from InfluxDB', () => {
  let apiPort = 0;
  let window = { from: 0, to: 0 };
  let off = { from: 0, to: 0 };
  /** the MES reads made through the API (client clock) and whether they succeeded */
  const reads: Array<{ at: number; ok: boolean }> = [];
  const readsInWindow = () => reads.filter((r) => r.ok && r.at >= window.from && r.at < window.to).length;

  beforeAll(async () => {
    influx = await startInflux();
    const pressPort = await freePort();
    const sawPort = await freePort();
    apiPort = await freePort();
    servers.push(await serveRegisters(pressPort, [1, 0, 500]), await serveRegisters(sawPort, [1, 0, 7]));
    writeFileSync(
      join(dir.path, 'gateway.yaml'),
      `gateway: { id: e2e-line, site: yk-test, statusInterval: 1s, stopTimeout: 20s, logLevel: warn }
storage: { path: ./data, maxSize: 1GB, retention: 14d }
influx: { url: ${influx.url}, database: factory, batchSize: 1000, flushInterval: 200ms, maxBackoff: 1s }
http:
  listen: 127.0.0.1:${apiPort}
  tokens:
    - { name: mes, system: MES, token: ${MES}, scopes: [read] }
    - { name: operator, system: platform, token: ${OPERATOR}, scopes: [read, write] }
devices:
  - id: press-01
    line: line-01
    process: stamping
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${pressPort}, unitId: 1, timeout: 500ms }
    interval: 200ms
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16, writable: true, min: 0, max: 9 }
      - { name: strokes, role: counter, area: holding, address: 1, type: uint32, byteOrder: ABCD }
  - id: saw-05
    line: line-01
    process: cutting
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${sawPort}, unitId: 1, timeout: 500ms }
    interval: 200ms
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
      - { name: cuts, role: counter, area: holding, address: 1, type: uint32 }
`,
    );
    const shipped = readFileSync(join(root, 'config/policy/yongkang-2019.yaml'), 'utf8');
    writeFileSync(join(dir.path, 'policy-fast.yaml'), shipped.replace('slotMin: 60s', 'slotMin: 2s').replace('staleMin: 15m', 'staleMin: 10s'));
    writeFileSync(
      join(dir.path, 'project.yaml'),
      `project:
  id: E2E-1
  name: 端到端测试线
  enterprise: { name: 测试企业, uscc: 91330784TEST00009 }
  period: { from: 2026-01-01, to: 2027-12-31 }
  claim: partial
policy: ./policy-fast.yaml
processes:
  - { id: cutting, name: 下料, key: false }
  - { id: stamping, name: 冲压, key: true }
equipment:
  - { id: saw-05, process: cutting, category: production, digitalControl: false }
  - { id: press-01, process: stamping, category: production, digitalControl: true }
invoices:
  - { number: "H-1", date: 2026-06-01, category: hardware, item: 网关, quantity: 1, amount: "100000.00" }
`,
    );

    gw = startProcess(process.execPath, [fgw, 'run', '--config', join(dir.path, 'gateway.yaml')], { cwd: dir.path });
    const api = (path: string, token: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${apiPort}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
    const latestTs = async (device: string): Promise<number> => {
      const at = Date.now();
      const r = await api(`/api/devices/${device}/latest`, MES);
      reads.push({ at, ok: r.status === 200 });
      if (r.status !== 200) return 0;
      const body = (await r.json()) as { readings: Array<{ ts: number; quality: string }> };
      return Math.max(0, ...body.readings.filter((x) => x.quality === 'good').map((x) => x.ts));
    };
    await waitFor('both machines reporting', async () => (await latestTs('press-01')) > 0 && (await latestTs('saw-05')) > 0, { timeoutMs: 30_000 });

    // the window starts on a slot boundary after everything is up; reads counted only inside it
    window.from = Math.ceil(Date.now() / SLOT) * SLOT + SLOT;
    await waitFor('window start + 6 s', () => Date.now() > window.from + 6000);
    for (let i = 0; i < 3; i++) {
      const at = Date.now();
      const res = await api('/api/latest', MES);
      expect(res.status).toBe(200);
      reads.push({ at, ok: true });
    }
    const w = await api('/api/devices/press-01/tags/state', OPERATOR, { method: 'POST', body: JSON.stringify({ value: 3 }) });
    expect(w.status, await w.clone().text()).toBe(200);

    // the saw is switched off for 10 s
    off.from = Date.now();
    await servers.splice(1, 1)[0]!.close();
    await waitFor('10 s off', () => Date.now() >= off.from + OFF_MS, { timeoutMs: 20_000 });
    servers.push(await serveRegisters(sawPort, [1, 0, 7]));
    off.to = Date.now();
    await waitFor('the saw reporting again', async () => (await latestTs('saw-05')) > off.to, { timeoutMs: 30_000, everyMs: 500 });
    const back = Date.now();
    await waitFor('8 s after the saw is back', () => Date.now() > back + 8000, { timeoutMs: 30_000 });
    window.to = Math.floor(Date.now() / SLOT) * SLOT; // more than 6 s after the last read
    await waitFor('1 s past the window end', () => Date.now() > window.to + 1000);
    await gw.kill('SIGTERM');
    expect((await gw.exited).code, gw.output()).toBe(0);
    gw = undefined;
  }, 180_000);

  it('--source store and --source influx give the same, right result', async () => {
    const results: Record<string, any> = {};
    for (const source of ['store', 'influx']) {
      const json = join(dir.path, `${source}.json`);
      const r = await runCli([
        '--config', join(dir.path, 'gateway.yaml'), '--project', join(dir.path, 'project.yaml'),
        '--from', String(window.from), '--to', String(window.to), '--preliminary', '--source', source,
        '--json', json, '--html', join(dir.path, `${source}.html`), '--lang', 'en',
      ]);
      expect(r.code, r.err).toBe(0);
      results[source] = JSON.parse(readFileSync(json, 'utf8'));
    }
    const { store, influx: fromInflux } = results;
    expect({ ...fromInflux, source: 'x', report: 'x' }).toEqual({ ...store, source: 'x', report: 'x' });
    expect(fromInflux.report.factsDigest).toBe(store.report.factsDigest);

    const slots = (window.to - window.from) / SLOT;
    const dev = Object.fromEntries(store.devices.map((d: { id: string }) => [d.id, d]));
    // the press reported in every slot the platform was up
    expect(dev['press-01'].slots).toBe(slots);
    expect(dev['press-01'].goodSlots).toBe(dev['press-01'].expectedSlots);
    expect(dev['press-01'].expectedSlots + dev['press-01'].outageSlots).toBe(slots);
    expect(dev['press-01'].networked).toBe(true);
    // the saw: every slot lying wholly inside its off period is missing, and one gap covers them
    const firstOff = Math.ceil((off.from - window.from) / SLOT);
    const lastOff = Math.floor((off.to - window.from) / SLOT) - 1;
    expect(lastOff - firstOff + 1).toBeGreaterThanOrEqual(4);
    expect(dev['saw-05'].expectedSlots - dev['saw-05'].goodSlots).toBeGreaterThanOrEqual(lastOff - firstOff + 1 - dev['saw-05'].outageSlots);
    const longest = dev['saw-05'].gaps[0];
    expect(longest.from).toBeLessThanOrEqual(window.from + firstOff * SLOT);
    expect(longest.to).toBeGreaterThanOrEqual(window.from + (lastOff + 1) * SLOT);
    expect(dev['saw-05'].networked).toBe(false);
    // evidence from the audit: the MES reads we made and the one command
    expect(store.dataUse.readsBySystem.MES).toBe(readsInWindow());
    const stamping = store.processes.find((p: { id: string }) => p.id === 'stamping');
    expect(stamping.commandsPerWeek.reduce((a: number, b: number) => a + b, 0)).toBe(1);
    expect(store.commands).toMatchObject([{ actor: 'operator', system: 'platform', device: 'press-01', tag: 'state', value: '3', result: 'ok' }]);
    expect(store.classification).toBe('partial');
    expect(store.preliminary).toBe(true);
    // the project's own policy file was applied, and its hash is not the shipped one's
    expect(store.policy.path).toBe(join(dir.path, 'policy-fast.yaml'));
    expect(store.policy.sha256).not.toBe(loadPolicy('yongkang-2019').sha256);
  });
});
