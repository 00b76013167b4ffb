/**
 * `fgw verify` as a user runs it (runVerify), on the canonical gateway.yaml and project.yaml: a real
 * embedded store filled with two days of known readings, the same data forwarded (store forward
 * stream + the product's line-protocol formatter) into a real influxd. Both sources must give the
 * same result, equal to the values worked out by hand; bad input gives coded errors and exit code 2.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { openStore } from '../../ingest/store.js';
import { runVerify } from '../../verify/cli.js';
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
  return runVerify(args, { out: (s) => (out += s), err: (s) => (err += s) }).then((code) => ({ code, out, err }));
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
  store.appendAudit({ ts: Date.parse('2026-10-05T10:00:00+08:00'), actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/devices/:id/latest', device: 'press-01', result: 'ok' });
  store.appendAudit({ ts: Date.parse('2026-10-06T10:00:00+08:00'), actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/latest', result: 'ok' });
  store.appendAudit({ ts: Date.parse('2026-10-05T11:00:00+08:00'), actor: 'operator', system: 'platform', action: 'write', route: 'POST /api/devices/:id/tags/:tag', device: 'press-01', tag: 'state', value: '2', result: 'ok' });

  await influx.query('CREATE DATABASE factory');
  const ctx = { measurement: 'equipment', gateway: { id: 'line-01', site: 'yk-cup-plant' }, deviceMeta: () => ({ line: 'line-01' }) };
  await writeStore(influx.url, 'factory', store, ctx);
  await store.close();
});

afterAll(async () => {
  await influx?.cleanup();
  dir.cleanup();
});

const base = () => ['--config', join(dir.path, 'gateway.yaml'), '--project', join(dir.path, 'project.yaml'), '--from', '2026-10-05', '--to', '2026-10-07T00:00:00+08:00', '--preliminary'];

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
      orders: { erpMatched: 2, erpRows: 4, mesMatched: 2, mesRows: 3 },
      subsidy: { recommended: 'B', totalFen: 70_050_000 },
      policy: { id: 'yongkang-2019' },
    });
    const dev = Object.fromEntries(res.devices.map((d: { id: string }) => [d.id, d]));
    expect(dev['press-01']).toMatchObject({ expectedSlots: 2880, goodSlots: 2880, networked: true, networkedFull: true, rolesSeen: ['counter', 'parameter', 'state'] });
    expect(dev['welder-02']).toMatchObject({ expectedSlots: 2880, goodSlots: 2592, networked: true, networkedFull: false, gapCount: 1 });
    expect(dev['lathe-03']).toMatchObject({ goodSlots: 0, networked: false, stale: true });
    const steps = Object.fromEntries(res.processes.map((p: { id: string }) => [p.id, p]));
    expect(steps.stamping).toMatchObject({ covered: true, fullyCovered: true, executed: true, commandsPerWeek: [1] });
    expect(res.commands).toEqual([{ ts: Date.parse('2026-10-05T11:00:00+08:00'), actor: 'operator', system: 'platform', device: 'press-01', tag: 'state', value: '2', result: 'ok', gateway: 'line-01' }]);
    expect(res.policy.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(html, 'utf8')).toContain('data-classification="partial"');
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

  it('names the file, entry and field of a malformed invoice amount', async () => {
    const p = readFileSync(join(dir.path, 'project.yaml'), 'utf8').replace('amount: "185000.00"', 'amount: "185000"');
    writeFileSync(join(dir.path, 'bad-project.yaml'), p);
    const r = await run([...base().map((x) => (x.endsWith('project.yaml') ? join(dir.path, 'bad-project.yaml') : x)), '--json', join(dir.path, 'bad.json')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('GW_ERR_VERIFY_INPUT');
    expect(r.err).toContain('bad-project.yaml: invoices[2] (33002026000101).amount');
  });
});
