/**
 * End to end, real processes: three gateways (`fgw run`), two of one plant (gw-a: press-01 and
 * saw-05; gw-b: welder-02) and one of another plant (gw-c, whose own device is also called press-01
 * and has a tag of its own), each polling real Modbus TCP servers (modbus-serial) and forwarding
 * into one real influxd. The MES reads through gw-a and gw-b (data routes and the status route),
 * the operator commands press-01 and welder-02, the dashboard commands press-01 too (not a
 * registered system). In the middle of the window gw-b is SIGKILLed for about 10 s and restarted,
 * and at the same time saw-05 is switched off (its server closed).
 *
 * `fgw verify --config a.yaml --config b.yaml`, from the stores and from InfluxDB, must give the
 * same result from the same facts, and show what happened: gw-b's outage is excluded for welder-02
 * only (press-01 and saw-05 on gw-a have no outage slot; the saw's off period is a gap, 缺报); gw-c's
 * data and audits in the same database are not counted; only the MES's data reads and the
 * operator's commands count. Then --reproduce matches.
 *
 * The project points to its own policy file: the shipped one with 2 s slots, a 10 s stale floor and
 * outageMax 1.00 (a 10-s outage in a window of half a minute is far above 5%, and how far depends on
 * how long the restart takes on a loaded machine; the rule under test here is the exclusion, the
 * threshold is the golden cases').
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../gateway/cli/index.js';
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
const DASHBOARD = 'dashboard-token-e2e-0001';

let influx: TestInflux;
const gws: Record<string, Proc | undefined> = {};
const servers: Record<string, TestModbusServer | undefined> = {};
const dir = tempDir('fgw-verify-e2e-');

afterAll(async () => {
  for (const p of Object.values(gws)) await p?.kill('SIGKILL');
  await Promise.all(Object.values(servers).map(async (s) => s?.close()));
  await influx?.cleanup();
  dir.cleanup();
});

function runCli(args: string[]) {
  let out = '';
  let err = '';
  return main(['verify', ...args], { out: (s) => (out += s), err: (s) => (err += s) }).then((code) => ({ code, out, err }));
}

function gatewayYaml(id: string, site: string, apiPort: number, influxUrl: string, devices: string): string {
  return `gateway: { id: ${id}, site: ${site}, statusInterval: 1s, stopTimeout: 20s, logLevel: warn }
storage: { path: ./data-${id}, maxSize: 1GB, retention: 14d }
influx: { url: ${influxUrl}, database: factory, batchSize: 1000, flushInterval: 200ms, maxBackoff: 1s }
http:
  listen: 127.0.0.1:${apiPort}
  tokens:
    - { name: mes, system: MES, token: ${MES}, scopes: [read] }
    - { name: operator, system: platform, token: ${OPERATOR}, scopes: [read, write] }
    - { name: dashboard, system: dashboard, token: ${DASHBOARD}, scopes: [read, write] }
devices:
${devices}`;
}

const modbusDevice = (id: string, process: string, port: number, tags: string) => `  - id: ${id}
    line: line-01
    process: ${process}
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${port}, unitId: 1, timeout: 500ms }
    interval: 200ms
    tags:
${tags}`;

const STATE_W = '      - { name: state, role: state, area: holding, address: 0, type: uint16, writable: true, min: 0, max: 9 }\n';
const COUNTER = (name: string) => `      - { name: ${name}, role: counter, area: holding, address: 1, type: uint32, byteOrder: ABCD }\n`;

describe('three gateways into one InfluxDB, one SIGKILLed: verified from the stores and from InfluxDB', () => {
  const ports: Record<string, number> = {};
  const window = { from: 0, to: 0 };
  const off = { from: 0, to: 0 };
  /** every API call the test made in the window: gateway, token's system, route, ok */
  const calls: Array<{ at: number; gw: string; system: string; route: string; ok: boolean }> = [];
  const inWindow = (c: { at: number }) => c.at >= window.from && c.at < window.to;
  const cfg = (id: string) => join(dir.path, `${id}.yaml`);
  const start = (id: string) => {
    gws[id] = startProcess(process.execPath, [fgw, 'run', '--config', cfg(id)], { cwd: dir.path });
  };
  const api = (gw: string, path: string, token: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${ports[gw]}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
    });
  /** newest good reading of a device, asked with the dashboard's token (not a registered system: its reads never count) */
  const latestTs = async (gw: string, device: string): Promise<number> => {
    const r = await api(gw, `/api/devices/${device}/latest`, DASHBOARD);
    if (r.status !== 200) return 0;
    const body = (await r.json()) as { readings: Array<{ ts: number; quality: string }> };
    return Math.max(0, ...body.readings.filter((x) => x.quality === 'good').map((x) => x.ts));
  };
  const read = async (gw: string, path: string, route: string) => {
    const at = Date.now();
    const r = await api(gw, path, MES);
    await r.arrayBuffer();
    calls.push({ at, gw, system: 'MES', route, ok: r.status === 200 });
    expect(r.status, `${gw} ${path}`).toBe(200);
  };
  const command = async (gw: string, device: string, token: string, system: string, value: number) => {
    const at = Date.now();
    const r = await api(gw, `/api/devices/${device}/tags/state`, token, { method: 'POST', body: JSON.stringify({ value }) });
    calls.push({ at, gw, system, route: 'POST /api/devices/:id/tags/:tag', ok: r.status === 200 });
    expect(r.status, await r.clone().text()).toBe(200);
  };

  beforeAll(async () => {
    influx = await startInflux();
    for (const k of ['press', 'saw', 'welder', 'other', 'a', 'b', 'c']) ports[k] = await freePort();
    servers.press = await serveRegisters(ports.press!, [1, 0, 500]);
    servers.saw = await serveRegisters(ports.saw!, [1, 0, 7]);
    servers.welder = await serveRegisters(ports.welder!, [1, 0, 40]);
    servers.other = await serveRegisters(ports.other!, [2, 0, 9]);
    ports['gw-a'] = ports.a!;
    ports['gw-b'] = ports.b!;
    ports['gw-c'] = ports.c!;
    writeFileSync(
      cfg('gw-a'),
      gatewayYaml(
        'gw-a',
        'yk-plant-1',
        ports.a!,
        influx.url,
        modbusDevice('press-01', 'stamping', ports.press!, STATE_W + COUNTER('strokes')) +
          modbusDevice('saw-05', 'cutting', ports.saw!, STATE_W + COUNTER('cuts')),
      ),
    );
    writeFileSync(
      cfg('gw-b'),
      gatewayYaml('gw-b', 'yk-plant-1', ports.b!, influx.url, modbusDevice('welder-02', 'welding', ports.welder!, STATE_W + COUNTER('welds'))),
    );
    // another plant, same database; its device has the same id as one of gw-a's, and a tag of its own
    writeFileSync(
      cfg('gw-c'),
      gatewayYaml('gw-c', 'yk-plant-2', ports.c!, influx.url, modbusDevice('press-01', 'stamping', ports.other!, STATE_W + COUNTER('spindle'))),
    );
    const shipped = readFileSync(join(root, 'config/policy/yongkang-2019.yaml'), 'utf8');
    writeFileSync(
      join(dir.path, 'policy-fast.yaml'),
      shipped.replace('slotMin: 60s', 'slotMin: 2s').replace('staleMin: 15m', 'staleMin: 10s').replace('outageMax: "0.05"', 'outageMax: "1.00"'),
    );
    writeFileSync(
      join(dir.path, 'project.yaml'),
      `project:
  id: E2E-2
  name: 端到端测试线（两台网关）
  enterprise: { name: 测试企业, uscc: 91330784TEST00009 }
  period: { from: 2026-01-01, to: 2027-12-31 }
  claim: partial
policy: ./policy-fast.yaml
processes:
  - { id: cutting, name: 下料, key: false }
  - { id: stamping, name: 冲压, key: true }
  - { id: welding, name: 焊接, key: true }
equipment:
  - { id: saw-05, process: cutting, category: production, digitalControl: false }
  - { id: press-01, process: stamping, category: production, digitalControl: true }
  - { id: welder-02, process: welding, category: production, digitalControl: true }
invoices:
  - { number: "H-1", date: 2026-06-01, category: hardware, item: 网关, quantity: 1, amount: "100000.00" }
`,
    );
    for (const id of ['gw-a', 'gw-b', 'gw-c']) start(id);
    await waitFor(
      'every machine reporting',
      async () =>
        (await latestTs('gw-a', 'press-01')) > 0 &&
        (await latestTs('gw-a', 'saw-05')) > 0 &&
        (await latestTs('gw-b', 'welder-02')) > 0 &&
        (await latestTs('gw-c', 'press-01')) > 0,
      { timeoutMs: 60_000, everyMs: 200 },
    );

    // the window starts on a slot boundary after everything is up
    window.from = Math.ceil(Date.now() / SLOT) * SLOT + SLOT;
    await waitFor('window start + 4 s', () => Date.now() > window.from + 4000, { timeoutMs: 20_000 });
    for (const gw of ['gw-a', 'gw-b']) {
      await read(gw, '/api/latest', 'GET /api/latest');
      await read(gw, `/api/devices/${gw === 'gw-a' ? 'press-01' : 'welder-02'}/latest`, 'GET /api/devices/:id/latest');
      await read(gw, '/api/status', 'GET /api/status');
    }
    await read('gw-c', '/api/latest', 'GET /api/latest'); // another plant's gateway: not ours
    await command('gw-a', 'press-01', OPERATOR, 'platform', 3);
    await command('gw-b', 'welder-02', OPERATOR, 'platform', 4);
    await command('gw-a', 'press-01', DASHBOARD, 'dashboard', 5);

    // gw-b is killed and the saw switched off, for about 10 s
    off.from = Date.now();
    await gws['gw-b']!.kill('SIGKILL');
    await servers.saw!.close();
    servers.saw = undefined;
    await waitFor('10 s off', () => Date.now() >= off.from + OFF_MS, { timeoutMs: 30_000 });
    servers.saw = await serveRegisters(ports.saw!, [1, 0, 7]);
    start('gw-b');
    off.to = Date.now();
    await waitFor(
      'welder-02 and the saw reporting again',
      async () => (await latestTs('gw-b', 'welder-02')) > off.to && (await latestTs('gw-a', 'saw-05')) > off.to,
      { timeoutMs: 60_000, everyMs: 250 },
    );
    const back = Date.now();
    await read('gw-a', '/api/latest', 'GET /api/latest');
    await read('gw-b', '/api/latest', 'GET /api/latest');
    await command('gw-b', 'welder-02', OPERATOR, 'platform', 6);
    await waitFor('6 s after both are back', () => Date.now() > back + 6000, { timeoutMs: 30_000 });
    window.to = Math.floor(Date.now() / SLOT) * SLOT; // more than 4 s after the last call
    await waitFor('1 s past the window end', () => Date.now() > window.to + 1000);
    for (const id of ['gw-a', 'gw-b', 'gw-c']) {
      await gws[id]!.kill('SIGTERM');
      expect((await gws[id]!.exited).code, gws[id]!.output()).toBe(0);
      gws[id] = undefined;
    }
  }, 240_000);

  const results: Record<string, any> = {};
  const verifyArgs = (source: string) => [
    '--config',
    cfg('gw-a'),
    '--config',
    cfg('gw-b'),
    '--project',
    join(dir.path, 'project.yaml'),
    '--from',
    String(window.from),
    '--to',
    String(window.to),
    '--preliminary',
    '--source',
    source,
    '--json',
    join(dir.path, `${source}.json`),
    '--lang',
    'en',
  ];

  it('--source store and --source influx give the same result, from the same facts', async () => {
    for (const source of ['store', 'influx']) {
      const r = await runCli(verifyArgs(source));
      expect(r.code, r.err).toBe(0);
      results[source] = JSON.parse(readFileSync(join(dir.path, `${source}.json`), 'utf8'));
    }
    const { store, influx: fromInflux } = results;
    expect({ ...fromInflux, source: 'x', report: 'x' }).toEqual({ ...store, source: 'x', report: 'x' });
    expect(fromInflux.report.factsDigest).toBe(store.report.factsDigest);
    expect(fromInflux.report.number).toBe(store.report.number);
    expect(store.report.source).toEqual({
      kind: 'store',
      stores: [join(dir.path, 'data-gw-a/store.db'), join(dir.path, 'data-gw-b/store.db')],
      gateways: ['gw-a', 'gw-b'],
    });
    expect(fromInflux.report.source).toEqual({ kind: 'influx', influx: { url: influx.url, database: 'factory' }, gateways: ['gw-a', 'gw-b'] });
  });

  it("excludes gw-b's outage for its own device only; the saw's off time is a gap", () => {
    const r = results.store;
    const slots = (window.to - window.from) / SLOT;
    const gw = Object.fromEntries(r.gateways.map((g: { id: string }) => [g.id, g]));
    const dev = Object.fromEntries(r.devices.map((d: { id: string }) => [d.id, d]));
    expect(Object.keys(gw)).toEqual(['gw-a', 'gw-b']);
    expect(gw['gw-a']).toMatchObject({ devices: ['press-01', 'saw-05'], inScopeDevices: ['saw-05', 'press-01'], platform: { slots, outageSlots: 0 } });
    // every slot wholly inside the kill lacks gw-b's heartbeat
    const firstOff = Math.ceil((off.from - window.from) / SLOT);
    const lastOff = Math.floor((off.to - window.from) / SLOT) - 1;
    expect(lastOff - firstOff + 1).toBeGreaterThanOrEqual(4);
    const b = gw['gw-b'].platform;
    expect(b.outageSlots).toBeGreaterThanOrEqual(lastOff - firstOff + 1);
    const inOutage = (k: number) =>
      b.outages.some((o: { from: number; to: number }) => o.from <= window.from + k * SLOT && window.from + (k + 1) * SLOT <= o.to);
    for (let k = firstOff; k <= lastOff; k++) expect(inOutage(k), `slot ${k} of the kill`).toBe(true);
    // welder-02 (gw-b): exactly its gateway's outage slots are excluded (so every slot of the kill),
    // not held against it; whatever it missed outside them (a poll lost with the kill, the first
    // slot after the restart) stays a gap
    expect(dev['welder-02']).toMatchObject({ gateway: 'gw-b', slots, outageSlots: b.outageSlots, expectedSlots: slots - b.outageSlots });
    // press-01 and saw-05 (gw-a): no outage slot at all; the press reported in every slot
    expect(dev['press-01']).toMatchObject({
      gateway: 'gw-a',
      outageSlots: 0,
      expectedSlots: slots,
      goodSlots: slots,
      networked: true,
      tagsSeen: ['state', 'strokes'],
    });
    expect(dev['saw-05']).toMatchObject({ gateway: 'gw-a', outageSlots: 0, expectedSlots: slots, networked: false });
    const sawOffFirst = Math.ceil((off.from - window.from) / SLOT);
    expect(dev['saw-05'].expectedSlots - dev['saw-05'].goodSlots).toBeGreaterThanOrEqual(lastOff - sawOffFirst + 1);
    expect(dev['saw-05'].gaps[0].from).toBeLessThanOrEqual(window.from + sawOffFirst * SLOT);
    expect(dev['saw-05'].gaps[0].to).toBeGreaterThanOrEqual(window.from + (lastOff + 1) * SLOT);
    expect(r.rules.find((x: { rule: string }) => x.rule === 'platform.outage:gw-b')).toMatchObject({ result: 'pass' });
  });

  it("counts the MES's data reads and the operator's commands of gw-a and gw-b only", () => {
    const r = results.store;
    const ours = calls.filter((c) => c.ok && inWindow(c) && c.gw !== 'gw-c');
    const dataReads = ours.filter((c) => c.system === 'MES' && c.route !== 'GET /api/status');
    expect(r.dataUse.readsBySystem).toEqual({ MES: dataReads.length });
    expect(r.dataUse.nonDataReadsByRoute).toEqual({ 'GET /api/status': ours.filter((c) => c.route === 'GET /api/status').length });
    expect(r.dataUse.readsByRoute).toEqual({
      'GET /api/latest': dataReads.filter((c) => c.route === 'GET /api/latest').length,
      'GET /api/devices/:id/latest': 2,
    });
    const step = Object.fromEntries(r.processes.map((p: { id: string }) => [p.id, p]));
    expect(step.stamping.commandsPerWeek.reduce((a: number, b: number) => a + b, 0)).toBe(1);
    expect(step.stamping.unregisteredCommands).toBe(1); // the dashboard's
    expect(step.welding.commandsPerWeek.reduce((a: number, b: number) => a + b, 0)).toBe(2);
    // samples from every week (the window may straddle a Monday), newest first within each
    const samples = step.welding.weeks.flatMap((w: { samples: Array<{ ts: number; value: string; gateway: string }> }) => w.samples);
    expect(samples.sort((a: { ts: number }, b: { ts: number }) => b.ts - a.ts).map((x: { gateway: string; value: string }) => [x.gateway, x.value])).toEqual([
      ['gw-b', '6'],
      ['gw-b', '4'],
    ]);
    expect(r.commands.map((c: { gateway: string; system: string; value: string }) => [c.gateway, c.system, c.value])).toEqual([
      ['gw-b', 'platform', '6'],
      ['gw-a', 'dashboard', '5'],
      ['gw-b', 'platform', '4'],
      ['gw-a', 'platform', '3'],
    ]);
    // press-01 networked, a key step (stamping) covered, data used: partial; not full (the saw is not networked)
    expect(r.classification).toBe('partial');
    expect(r.preliminary).toBe(true);
  });

  it('the project policy file was applied, and --reproduce matches on the untouched data', async () => {
    const r = results.store;
    expect(r.policy.path).toBe(join(dir.path, 'policy-fast.yaml'));
    expect(r.policy.sha256).not.toBe(loadPolicy('yongkang-2019').sha256);
    for (const source of ['store', 'influx']) {
      const again = await runCli(['--reproduce', join(dir.path, `${source}.json`)]);
      expect(again.err).toBe('');
      expect(again.out).toContain(`reproduced: report ${r.report.number}`);
      expect(again.code).toBe(0);
    }
  });
});
