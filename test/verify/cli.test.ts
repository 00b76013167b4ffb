/**
 * `fgw verify` as a user runs it (`main(['verify', ...])`), on the canonical gateway.yaml and project.yaml: a real
 * embedded store filled with two days of known readings, the same data forwarded (store forward
 * stream + the product's line-protocol formatter) into a real influxd. Both sources must give the
 * same result, equal to the values worked out by hand; bad input gives coded errors and exit code 2.
 * Also: the report header, --reproduce (matches on the untouched store, reports the difference on
 * one where readings were changed), several --config, and every field of the schema-1 JSON kept.
 */
import { copyFileSync, cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FieldKind, Reading } from '../../adapters/types.js';
import { openStore } from '../../ingest/store/index.js';
import { decodePoint, encodePoint } from '../../ingest/store/point-codec.js';
import { main } from '../../gateway/cli/index.js';
import { startInflux, writeStore, type TestInflux } from '../helpers/influx.js';
import { tempDir } from '../helpers/tmp.js';

const cfgDir = fileURLToPath(new URL('../../config/', import.meta.url));
const M = 60_000;
const FROM = Date.parse('2026-10-05T00:00:00+08:00');
const TO = Date.parse('2026-10-07T00:00:00+08:00'); // 2 days: 2,880 slots of 60 s

let influx: TestInflux;
const dir = tempDir('fgw-verify-cli-');

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  return main(['verify', ...args], { out: (s) => (out += s), err: (s) => (err += s) }).then((code) => ({ code, out, err }));
}

beforeAll(async () => {
  influx = await startInflux();
  // the canonical files, as shipped, with the test InfluxDB's URL
  const gw = readFileSync(join(cfgDir, 'gateway.yaml'), 'utf8').replace('url: http://127.0.0.1:8086', `url: ${influx.url}`);
  writeFileSync(join(dir.path, 'gateway.yaml'), gw);
  for (const f of ['project.yaml', 'erp-orders.csv', 'mes-orders.csv']) copyFileSync(join(cfgDir, f), join(dir.path, f));

  const store = openStore({ path: join(dir.path, 'data/line-01'), maxSizeBytes: 1024 ** 3, retentionMs: 3650 * 86_400_000, limitsIntervalMs: 0 });
  const data: Reading[] = [];
  for (let m = 0; m < 2880; m++) {
    const ts = FROM + m * M + 5000;
    data.push({ device: 'press-01', tag: 'state', ts, kind: 'integer', value: 1, quality: 'good' });
    data.push({ device: 'press-01', tag: 'strokes', ts, kind: 'integer', value: m, quality: 'good' });
    data.push({ device: 'press-01', tag: 'tonnage', ts, kind: 'float', value: 800.5, quality: 'good' });
    if (m < 1000 || m >= 1288) {
      data.push({ device: 'welder-02', tag: 'state', ts, kind: 'integer', value: 1, quality: 'good' });
      data.push({ device: 'welder-02', tag: 'welds', ts, kind: 'integer', value: m, quality: 'good' });
    }
  }
  await store.write(data);
  const hb: Reading[] = [];
  for (let t = FROM; t < TO; t += 10_000) hb.push({ device: '', tag: 'heartbeat', ts: t, kind: 'boolean', value: true, quality: 'good' });
  await store.writeStatus(hb);
  store.appendAudit({
    ts: Date.parse('2026-10-05T10:00:00+08:00'),
    actor: 'mes',
    system: 'MES',
    action: 'read',
    route: 'GET /api/devices/:id/latest',
    device: 'press-01',
    result: 'ok',
  });
  store.appendAudit({ ts: Date.parse('2026-10-06T10:00:00+08:00'), actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/latest', result: 'ok' });
  store.appendAudit({
    ts: Date.parse('2026-10-05T11:00:00+08:00'),
    actor: 'operator',
    system: 'platform',
    action: 'write',
    route: 'POST /api/devices/:id/tags/:tag',
    device: 'press-01',
    tag: 'state',
    value: '2',
    result: 'ok',
  });

  await influx.query('CREATE DATABASE factory');
  const ctx = { measurement: 'equipment', gateway: { id: 'line-01', site: 'yk-cup-plant' }, deviceMeta: () => ({ line: 'line-01' }) };
  await writeStore(influx.url, 'factory', store, ctx);
  await store.close();
});

afterAll(async () => {
  await influx?.cleanup();
  dir.cleanup();
});

const base = () => [
  '--config',
  join(dir.path, 'gateway.yaml'),
  '--project',
  join(dir.path, 'project.yaml'),
  '--from',
  '2026-10-05',
  '--to',
  '2026-10-07T00:00:00+08:00',
  '--preliminary',
];

/** every reading stored at `ts` made bad, point by point (the store keeps one row per point); how many */
function markBad(db: Database.Database, ts: number): number {
  const kind = new Map(db.prepare('SELECT id, kind FROM series').raw().all() as Array<[number, FieldKind]>);
  let n = 0;
  for (const [seq, series, vals] of db
    .prepare('SELECT p.seq, s.series, p.vals FROM points p JOIN shapes s ON s.id = p.shape WHERE p.ts = ?')
    .raw()
    .all(ts) as Array<[number, string, Uint8Array]>) {
    const kinds = series.split(',').map((id) => kind.get(Number(id))!);
    const entries = decodePoint(kinds, vals).map((e) => ({ ...e, quality: 'bad' as const }));
    db.prepare('UPDATE points SET vals = ? WHERE seq = ?').run(encodePoint(kinds, entries), seq);
    n += entries.length;
  }
  return n;
}

describe('fgw verify', () => {
  it.each(['store', 'influx'])('--source %s: the hand-computed result, JSON and HTML written', async (source) => {
    const json = join(dir.path, `${source}.json`);
    const html = join(dir.path, `${source}.html`);
    const r = await run([...base(), '--source', source, '--json', json, '--html', html]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('partial (preliminary)');
    expect(r.out).toContain('700,500.00');
    const res = JSON.parse(readFileSync(json, 'utf8'));
    expect(res).toMatchObject({
      classification: 'partial',
      preliminary: true,
      source,
      gateway: { id: 'line-01', site: 'yk-cup-plant' },
      networkingRate: { networked: 2, inScope: 5, value: 0.4 },
      dataUse: { readsInWindow: 2, registeredSystems: ['MES', 'platform'] },
      // the shipped exports' orders are released 2026-10-08 to 10-15, after this window: none counts
      orders: { erpMatched: 0, erpRows: 0, mesMatched: 0, mesRows: 0, erpOutside: 4, mesOutside: 3 },
      subsidy: { recommended: 'B', totalFen: 70_050_000 },
      policy: { id: 'yongkang-2019' },
    });
    const dev = Object.fromEntries(res.devices.map((d: { id: string }) => [d.id, d]));
    expect(dev['press-01']).toMatchObject({
      expectedSlots: 2880,
      goodSlots: 2880,
      networked: true,
      networkedFull: true,
      rolesSeen: ['counter', 'parameter', 'state'],
    });
    expect(dev['welder-02']).toMatchObject({ expectedSlots: 2880, goodSlots: 2592, networked: true, networkedFull: false, gapCount: 1 });
    expect(dev['lathe-03']).toMatchObject({ goodSlots: 0, networked: false, stale: true });
    const steps = Object.fromEntries(res.processes.map((p: { id: string }) => [p.id, p]));
    expect(steps.stamping).toMatchObject({ covered: true, fullyCovered: true, executed: true, commandsPerWeek: [1] });
    expect(res.commands).toEqual([
      {
        ts: Date.parse('2026-10-05T11:00:00+08:00'),
        actor: 'operator',
        system: 'platform',
        device: 'press-01',
        tag: 'state',
        value: '2',
        result: 'ok',
        gateway: 'line-01',
      },
    ]);
    expect(res.policy.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(html, 'utf8')).toContain('data-classification="partial"');
    expect(res.version).toBe(2);
  });

  it('fills the report header: number, time in the policy zone, version, command, source, input hashes, facts digest', () => {
    const res = JSON.parse(readFileSync(join(dir.path, 'store.json'), 'utf8'));
    const h = res.report;
    const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    // project id, the window's local dates (2026-10-05 .. 2026-10-07 exclusive), 12 hex digits
    expect(h.number).toMatch(/^YK-2026-0173-20261005-20261007-[0-9a-f]{12}$/);
    expect(h.generatedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?\+08:00$/);
    expect(h.fgw.version).toBe(JSON.parse(readFileSync(join(cfgDir, '../package.json'), 'utf8')).version);
    expect(h.fgw.revision).toMatch(/^[0-9a-f]{40}(-dirty)?$/); // the tests run from a git checkout
    expect(h.command).toEqual(['verify', ...base(), '--source', 'store', '--json', join(dir.path, 'store.json'), '--html', join(dir.path, 'store.html')]);
    expect(h.cwd).toBe(process.cwd());
    expect(h.inputs).toEqual([
      { role: 'gateway-config', path: join(dir.path, 'gateway.yaml'), sha256: sha(join(dir.path, 'gateway.yaml')) },
      { role: 'project', path: join(dir.path, 'project.yaml'), sha256: sha(join(dir.path, 'project.yaml')) },
      { role: 'policy', path: join(cfgDir, 'policy/yongkang-2019.yaml'), sha256: sha(join(cfgDir, 'policy/yongkang-2019.yaml')) },
      { role: 'erp-orders', path: join(dir.path, 'erp-orders.csv'), sha256: sha(join(dir.path, 'erp-orders.csv')) },
      { role: 'mes-orders', path: join(dir.path, 'mes-orders.csv'), sha256: sha(join(dir.path, 'mes-orders.csv')) },
    ]);
    expect(h.factsDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps every field of the schema-1 result (additions only)', () => {
    const res = JSON.parse(readFileSync(join(dir.path, 'store.json'), 'utf8'));
    // the schema-1 result, field by field (verify/README.md "The result")
    const v1: Record<string, string[]> = {
      '': [
        'kind',
        'version',
        'project',
        'gateway',
        'source',
        'window',
        'classification',
        'preliminary',
        'rules',
        'platform',
        'weeks',
        'devices',
        'networkingRate',
        'processes',
        'dataUse',
        'commands',
        'orders',
        'subsidy',
        'policy',
      ],
      project: ['id', 'name', 'enterprise', 'uscc', 'claim', 'period', 'file'],
      window: ['from', 'to', 'fromMs', 'toMs', 'days'],
      'rules.0': ['rule', 'value', 'threshold', 'result', 'evidence', 'evidenceZh'],
      platform: ['slotMs', 'slots', 'shutdownSlots', 'outageSlots', 'outage', 'outageExceeded', 'outages'],
      'platform.outage': ['count', 'total', 'value'],
      'weeks.0': ['index', 'from', 'to', 'label'],
      'devices.0': [
        'id',
        'process',
        'category',
        'digitalControl',
        'inScope',
        'inGateway',
        'inRegister',
        'networked',
        'networkedFull',
        'reasons',
        'slotMs',
        'slots',
        'shutdownSlots',
        'outageSlots',
        'expectedSlots',
        'goodSlots',
        'reportingRate',
        'tagsSeen',
        'rolesSeen',
        'signalSet',
        'lastGoodTs',
        'staleLimitMs',
        'stale',
        'weekly',
        'weeklyStable',
        'gapCount',
        'gaps',
        'timeline',
      ],
      'devices.0.weekly.0': ['week', 'expected', 'good', 'pass'],
      networkingRate: ['rMin', 'networked', 'inScope', 'value', 'digitalControl', 'full'],
      'processes.0': ['id', 'name', 'key', 'devices', 'inScopeDevices', 'covered', 'fullyCovered', 'executed', 'commandsPerWeek', 'evidence', 'evidenceZh'],
      dataUse: ['registeredSystems', 'readsInWindow', 'readsBySystem', 'readsPerWeek', 'unregisteredReads', 'auditRecords'],
      'commands.0': ['ts', 'actor', 'system', 'device', 'tag', 'value', 'result'],
      policy: ['id', 'title', 'path', 'sha256', 'values'],
    };
    for (const [path, keys] of Object.entries(v1)) {
      const node = path === '' ? res : path.split('.').reduce((o, k) => o?.[k], res);
      expect(node, path).toBeTypeOf('object');
      for (const k of keys) expect(node, `${path}.${k}`).toHaveProperty(k);
    }
  });

  it('store and InfluxDB give the same result, from the same facts (one digest, one report number)', () => {
    const a = JSON.parse(readFileSync(join(dir.path, 'store.json'), 'utf8'));
    const b = JSON.parse(readFileSync(join(dir.path, 'influx.json'), 'utf8'));
    expect({ ...b, source: 'x', report: 'x' }).toEqual({ ...a, source: 'x', report: 'x' });
    expect(b.report.factsDigest).toBe(a.report.factsDigest);
    expect(b.report.number).toBe(a.report.number);
    expect(a.report.source).toEqual({ kind: 'store', stores: [join(dir.path, 'data/line-01/store.db')], gateways: ['line-01'] });
    expect(b.report.source).toEqual({ kind: 'influx', influx: { url: influx.url, database: 'factory' }, gateways: ['line-01'] });
  });

  it('a 2-day window without --preliminary is indeterminate', async () => {
    const json = join(dir.path, 'short.json');
    const r = await run([...base().filter((x) => x !== '--preliminary'), '--json', json]);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(json, 'utf8')).classification).toBe('indeterminate');
  });

  it.each([
    [['--project', 'p.yaml'], 'GW_ERR_USAGE'], // no --config
    [[...['--from', '2026-10-07', '--to', '2026-10-05']], 'GW_ERR_VERIFY_INPUT'],
    [['--from', 'yesterday'], 'GW_ERR_VERIFY_INPUT'],
    [['--source', 'sqlite'], 'GW_ERR_USAGE'],
    [['--policy', 'no-such-policy'], 'GW_ERR_POLICY'],
  ])('bad input %j → exit 2 with %s', async (extra, code) => {
    const args = extra[0] === '--project' ? [...extra, '--json', 'x.json'] : [...base(), ...extra, '--json', join(dir.path, 'bad.json')];
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(code);
    expect(existsSync(join(dir.path, 'bad.json'))).toBe(false);
  });

  it('--reproduce: matches on the untouched store; reports the facts digest when readings changed', async () => {
    const copy = join(dir.path, 'copy');
    cpSync(join(dir.path, 'data'), join(copy, 'data'), { recursive: true });
    for (const f of ['project.yaml', 'erp-orders.csv', 'mes-orders.csv']) copyFileSync(join(dir.path, f), join(copy, f));
    copyFileSync(join(dir.path, 'gateway.yaml'), join(copy, 'gateway.yaml'));
    const json = join(copy, 'r.json');
    const args = base().map((x) => x.replace(dir.path, copy));
    expect((await run([...args, '--json', json])).code).toBe(0);
    const same = await run(['--reproduce', json]);
    expect(same).toMatchObject({ code: 0, err: '' });
    expect(same.out).toMatch(/^reproduced: report YK-2026-0173-20261005-20261007-[0-9a-f]{12}: facts digest [0-9a-f]{64} and 5 input hashes match\n$/);
    // the readings of one poll (press-01 and welder-02, minute 5) marked bad: facts differ
    const db = new Database(join(copy, 'data/line-01/store.db'));
    expect(markBad(db, FROM + 5 * M + 5000)).toBe(5);
    db.close();
    const changed = await run(['--reproduce', json]);
    expect(changed.code).toBe(1);
    expect(changed.out).toContain('NOT reproduced: report');
    expect(changed.out).toContain('facts digest: recorded');
    expect(changed.out).not.toContain('input ');
    // an input changed: named with both hashes
    writeFileSync(join(copy, 'erp-orders.csv'), `${readFileSync(join(copy, 'erp-orders.csv'), 'utf8')}\n`);
    const input = await run(['--reproduce', json]);
    expect(input.code).toBe(1);
    expect(input.out).toContain(`input erp-orders ${join(copy, 'erp-orders.csv')}: sha256 recorded`);
    expect((await run(['--reproduce', json, '--json', 'x.json'])).code).toBe(2);
    expect((await run(['--reproduce', join(copy, 'project.yaml')])).code).toBe(2);
  });

  it('several --config: each device belongs to its own gateway; a device id in two configs is an error naming both files', async () => {
    // a second gateway config with no device of its own, its own (empty) store
    const text = readFileSync(join(dir.path, 'gateway.yaml'), 'utf8');
    const second = text.replace(/id: line-01(\s+# becomes the `gateway` tag)/, 'id: line-02$1');
    expect(second).not.toBe(text);
    const gw2 = second.replace('path: ./data/line-01', 'path: ./data/line-02').replace(/\ndevices:[\s\S]*$/, '\ndevices: []\n');
    writeFileSync(join(dir.path, 'gateway-2.yaml'), gw2);
    await openStore({ path: join(dir.path, 'data/line-02'), maxSizeBytes: 1024 ** 3, retentionMs: 3650 * 86_400_000, limitsIntervalMs: 0 }).close();
    const json = join(dir.path, 'two.json');
    const r = await run([...base(), '--config', join(dir.path, 'gateway-2.yaml'), '--json', json]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const res = JSON.parse(readFileSync(json, 'utf8'));
    expect(res.gateways.map((g: { id: string; devices: string[] }) => [g.id, g.devices.length])).toEqual([
      ['line-01', 4],
      ['line-02', 0],
    ]); // press-01, welder-02, lathe-03, polisher-04
    expect(res.report.source.gateways).toEqual(['line-01', 'line-02']);
    // line-02 has no heartbeat at all but serves no in-scope equipment: it does not decide
    expect(res.classification).toBe('partial');
    // the same config twice: the same gateway id and device ids, both files named
    const dup = await run([...base(), '--config', join(dir.path, 'gateway.yaml'), '--json', join(dir.path, 'bad.json')]);
    expect(dup.code).toBe(2);
    expect(dup.err).toContain('GW_ERR_VERIFY_INPUT');
    writeFileSync(join(dir.path, 'gateway-3.yaml'), second.replace('path: ./data/line-01', 'path: ./data/line-02'));
    const dev = await run([...base(), '--config', join(dir.path, 'gateway-3.yaml'), '--json', join(dir.path, 'bad.json')]);
    expect(dev.code).toBe(2);
    expect(dev.err).toMatch(
      new RegExp(
        `device id "press-01" is in both ${join(dir.path, 'gateway.yaml')}: devices\\[\\d+\\] \\(press-01\\) and ${join(dir.path, 'gateway-3.yaml')}: devices\\[\\d+\\] \\(press-01\\)`,
      ),
    );
    expect(existsSync(join(dir.path, 'bad.json'))).toBe(false);
  });

  it('names the file, entry and field of a malformed invoice amount', async () => {
    const p = readFileSync(join(dir.path, 'project.yaml'), 'utf8').replace('amount: "185000.00"', 'amount: "185000"');
    writeFileSync(join(dir.path, 'bad-project.yaml'), p);
    const r = await run([...base().map((x) => (x.endsWith('project.yaml') ? join(dir.path, 'bad-project.yaml') : x)), '--json', join(dir.path, 'bad.json')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('GW_ERR_VERIFY_INPUT');
    expect(r.err).toContain('bad-project.yaml: invoices[2] (33002026000101).amount');
  });
});
