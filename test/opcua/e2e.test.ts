/**
 * End to end against a real node-opcua server (one per file): every collectable type arrives with
 * its value, kind, status and source timestamp exactly as served; unknown NodeIds and non-variables
 * give that tag bad quality while the rest works; poll mode reads at the device interval; writes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { main } from '../../gateway/cli/index.js';
import opcua from '../../adapters/opcua/index.js';
import { OpcuaSimulator, type SimDataType } from '../../adapters/opcua/simulator.js';
import type { Adapter, FieldKind, Value } from '../../adapters/types.js';
import { isGatewayError } from '../../config/errors.js';
import { openStore } from '../../ingest/store/index.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { MemorySink } from '../helpers/sink.js';
import { captureLog, type LogCapture } from '../helpers/log.js';
import { makeCtx } from './helpers.js';

const T0 = Date.UTC(2026, 10, 1, 8, 0, 0, 250);

/** [type, first value served, kind expected, value expected in the reading] */
const TYPES: Array<[SimDataType, unknown, FieldKind, Value]> = [
  ['Boolean', true, 'boolean', true],
  ['SByte', -12, 'integer', -12],
  ['Byte', 250, 'integer', 250],
  ['Int16', -32768, 'integer', -32768],
  ['UInt16', 65535, 'integer', 65535],
  ['Int32', -2147483648, 'integer', -2147483648],
  ['UInt32', 4294967295, 'integer', 4294967295],
  ['Int64', -9007199254740991, 'integer', -9007199254740991],
  ['UInt64', 9007199254740991, 'integer', 9007199254740991],
  ['Float', 812.3, 'float', 812.3], // a float32: read as the device meant it, not 812.2999877929688
  ['Double', 3.141592653589793, 'float', 3.141592653589793],
  ['String', '冲压 O1234', 'string', '冲压 O1234'],
  ['LocalizedText', 'Running', 'string', 'Running'],
  ['ByteString', 'AQID', 'string', 'AQID'],
  ['DateTime', Date.UTC(2026, 0, 2, 3, 4, 5, 678), 'integer', Date.UTC(2026, 0, 2, 3, 4, 5, 678)],
];

let sim: OpcuaSimulator;
let dir: ReturnType<typeof tempDir>;
let sink: MemorySink;
let cap: LogCapture;
let adapter: Adapter;

beforeAll(async () => {
  dir = tempDir('fgw-opcua-e2e-');
  sim = await OpcuaSimulator.start({
    pkiDir: `${dir.path}/server`,
    variables: [
      ...TYPES.map(([t, v]) => ({ id: `Test.${t}`, dataType: t, value: v })),
      { id: 'Test.Status', dataType: 'Double' as const, value: 10 },
      { id: 'Test.ReadOnly', dataType: 'Int32' as const, value: 7, writable: false },
      { id: 'Test.Deadband', dataType: 'Double' as const, value: 100 },
      { id: 'Test.Marker', dataType: 'Int32' as const, value: 0 },
    ],
  });
  for (const [t, v] of TYPES) sim.set(`Test.${t}`, v, { sourceTimestamp: T0 });
  sink = new MemorySink();
  cap = captureLog({ level: 'info' });
  const device = opcua.deviceSchema.parse({
    id: 'lathe-e2e',
    protocol: 'opcua',
    interval: '100ms',
    republishInterval: 0,
    connection: { endpoint: sim.endpoint },
    tags: [
      ...TYPES.map(([t]) => ({ name: `t_${t.toLowerCase()}`, nodeId: `ns=1;s=Test.${t}` })),
      { name: 'status', nodeId: 'ns=1;s=Test.Status' },
      { name: 'ghost', nodeId: 'ns=1;s=Lathe3.DoesNotExist' },
      { name: 'folder', nodeId: 'ns=1;s=Lathe3' },
      { name: 'state', role: 'state', nodeId: 'ns=1;s=Lathe3.State' },
      { name: 'program', role: 'parameter', nodeId: 'ns=1;s=Lathe3.Program', mode: 'poll' },
      { name: 'read_only', nodeId: 'ns=1;s=Test.ReadOnly', writable: true },
      { name: 'damped', nodeId: 'ns=1;s=Test.Deadband', deadband: { type: 'absolute', value: 5 } },
      { name: 'undamped', nodeId: 'ns=1;s=Test.Deadband' },
      { name: 'marker', nodeId: 'ns=1;s=Test.Marker' },
      { name: 'marker_pct', nodeId: 'ns=1;s=Test.Marker', deadband: { type: 'percent', value: 10 } },
    ],
  });
  adapter = opcua.create(device, makeCtx('lathe-e2e', dir.path, sink, cap.log));
  await adapter.start();
  await waitFor('connected', () => adapter.status().connected);
});

afterAll(async () => {
  await adapter?.stop();
  await sim?.stop();
  dir?.cleanup();
});

describe('opcua end to end', () => {
  it.each(TYPES)('%s arrives with its value, kind and source timestamp', async (type, _served, kind, expected) => {
    const r = await waitFor(`reading of ${type}`, () => sink.last(`t_${type.toLowerCase()}`));
    expect(r).toMatchObject({ device: 'lathe-e2e', kind, value: expected, quality: 'good', ts: T0 });
    expect(r.error).toBeUndefined();
  });

  it('keeps a value change and its new source timestamp', async () => {
    sim.set('Test.Int16', 1234, { sourceTimestamp: T0 + 1000 });
    const r = await waitFor('Int16 = 1234', () => sink.of('t_int16').find((x) => x.value === 1234));
    expect(r).toMatchObject({ kind: 'integer', quality: 'good', ts: T0 + 1000 });
  });

  it.each([
    ['UncertainLastUsableValue', 11.5, 'uncertain', 11.5, 1],
    ['BadSensorFailure', 99, 'bad', null, 2],
    ['Good', 12.5, 'good', 12.5, 3],
  ] as const)('status %s (served %s) gives quality %s and value %s', async (status, served, quality, value, second) => {
    const ts = T0 + second * 1000;
    sim.set('Test.Status', served, { status, sourceTimestamp: ts });
    const r = await waitFor(`status ${status}`, () => sink.of('status').find((x) => x.ts === ts));
    expect(r).toMatchObject({ quality, value, kind: 'float' });
    if (quality === 'good') expect(r.error).toBeUndefined();
    else expect(r.error).toBe(status);
  });

  it('an unknown NodeId makes only that tag bad (BadNodeIdUnknown), logged once', async () => {
    const r = await waitFor('ghost reading', () => sink.last('ghost'));
    expect(r).toMatchObject({ quality: 'bad', value: null, error: 'BadNodeIdUnknown' });
    expect(cap.lines.filter((l) => l.tag === 'ghost')).toHaveLength(1);
    expect(sink.last('state')).toMatchObject({ quality: 'good', value: 1, kind: 'integer' });
  });

  it("a node that is not a variable is bad with the server's status name", async () => {
    const r = await waitFor('folder reading', () => sink.last('folder'));
    expect(r).toMatchObject({ quality: 'bad', value: null, error: 'BadAttributeIdInvalid' });
  });

  it('an absolute deadband of 5 drops a change of 3 and reports a change of 10', async () => {
    await waitFor('damped 100', () => sink.of('damped').find((r) => r.value === 100));
    sim.set('Test.Deadband', 103);
    // the undamped tag on the same node shows the server sampled 103; a later publish (marker) shows
    // the damped item had its chance to report it
    await waitFor('undamped 103', () => sink.of('undamped').find((r) => r.value === 103));
    sim.set('Test.Marker', 1);
    await waitFor('marker 1', () => sink.of('marker').find((r) => r.value === 1));
    sim.set('Test.Deadband', 110);
    await waitFor('damped 110', () => sink.of('damped').find((r) => r.value === 110));
    expect(sink.of('damped').map((r) => r.value)).toEqual([100, 110]);
  });

  it('republishInterval reports an unchanged subscribed value again, with ts = now', async () => {
    const sink2 = new MemorySink();
    const device = opcua.deviceSchema.parse({
      id: 'lathe-quiet',
      protocol: 'opcua',
      interval: '100ms',
      republishInterval: '200ms',
      connection: { endpoint: sim.endpoint },
      tags: [{ name: 'program', nodeId: 'ns=1;s=Lathe3.Program' }],
    });
    const a = opcua.create(device, makeCtx('lathe-quiet', dir.path, sink2, captureLog({ level: 'info' }).log));
    try {
      await a.start();
      const first = await waitFor('first program reading', () => sink2.last('program'));
      await waitFor('3 readings of the unchanged value', () => sink2.of('program').length >= 3);
      const all = sink2.of('program');
      expect(all.map((r) => r.value)).toEqual(all.map(() => 'O1000'));
      expect(all.every((r) => r.quality === 'good' && r.kind === 'string')).toBe(true);
      for (let i = 1; i < all.length; i++) expect(all[i]!.ts).toBeGreaterThan(all[i - 1]!.ts);
      expect(all[1]!.ts).toBeGreaterThan(first.ts);
    } finally {
      await a.stop();
    }
  });

  it('a percent deadband the server refuses (no EURange) falls back to no deadband, logged once', async () => {
    await waitFor('marker_pct reading', () => sink.last('marker_pct'));
    expect(sink.last('marker_pct')).toMatchObject({ quality: 'good', kind: 'integer' });
    const lines = cap.lines.filter((l) => l.tag === 'marker_pct');
    expect(lines).toHaveLength(1);
    expect(String(lines[0]!.msg)).toContain('refused the deadband');
  });

  it('poll mode reads at the device interval, unchanged values included', async () => {
    await waitFor('3 polls of program', () => sink.of('program').length >= 3);
    expect(sink.last('program')).toMatchObject({ kind: 'string', value: 'O1000', quality: 'good' });
  });

  it.each([
    ['t_int16', -5, -5],
    ['t_uint64', 4294967296 * 3 + 7, 4294967296 * 3 + 7],
    ['t_double', 2.25, 2.25],
    ['t_boolean', false, false],
    ['t_string', 'P-77', 'P-77'],
    ['t_datetime', Date.UTC(2027, 1, 3), Date.UTC(2027, 1, 3)],
  ] as const)('write %s = %s reaches the server', async (tag, value, expected) => {
    await adapter.write!(tag, value);
    expect(sim.get(`Test.${tag.slice(2).replace(/^(.)/, (c) => c.toUpperCase())}`.replace('Uint64', 'UInt64').replace('Datetime', 'DateTime'))).toBe(expected);
  });

  it.each([
    ['t_int16', 1.5, 'GW_ERR_WRITE_TYPE'],
    ['t_byte', 300, 'GW_ERR_WRITE_TYPE'],
    ['t_boolean', 'yes', 'GW_ERR_WRITE_TYPE'],
    ['read_only', 1, 'GW_ERR_WRITE_FAILED'],
    ['ghost', 1, 'GW_ERR_WRITE_UNSUPPORTED'],
    ['nope', 1, 'GW_ERR_TAG_UNKNOWN'],
  ] as const)('write %s = %s is refused with %s', async (tag, value, code) => {
    const err = await adapter.write!(tag, value).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isGatewayError(err) ? err.code : err).toBe(code);
  });

  it('counts good and bad readings in status()', async () => {
    // status() counts a reading when it is emitted, the sink gets it on the next turn of the event loop
    await waitFor('readings emitted so far handed to the sink', () => adapter.status().good + adapter.status().bad === sink.readings.length);
    const s = adapter.status();
    expect(s.connected).toBe(true);
    expect(s.good).toBe(sink.readings.filter((r) => r.quality !== 'bad').length);
    expect(s.bad).toBe(sink.readings.filter((r) => r.quality === 'bad').length);
  });

  it('fgw browse prints ready-to-paste YAML tag entries (SignAndEncrypt, username, trust on first use)', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      [
        'browse',
        sim.endpoint,
        '--security',
        'SignAndEncrypt',
        '--policy',
        'Basic256Sha256',
        '--user',
        'gateway',
        '--password',
        'secret',
        '--pki',
        `${dir.path}/browse-pki`,
        '--trust-unknown',
        '--depth',
        '3',
      ],
      { out: (s) => out.push(s), err: (s) => err.push(s) },
    );
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toContain('- { name: lathe3_state, nodeId: "ns=1;s=Lathe3.State" }  # Int32 → integer');
    expect(text).toContain('- { name: lathe3_spindle_speed, nodeId: "ns=1;s=Lathe3.SpindleSpeed" }  # Double → float');
    expect(text).toContain('- { name: test_date_time, nodeId: "ns=1;s=Test.DateTime" }  # DateTime → integer');
    expect(text).not.toMatch(/nodeId: "i=|ns=0;/);
    const doc = parseYaml(text) as { tags: Array<{ name: string; nodeId: string }> };
    expect(doc.tags).toHaveLength(4 + TYPES.length + 4);
    const parsed = opcua.deviceSchema.safeParse({ id: 'pasted', protocol: 'opcua', connection: { endpoint: sim.endpoint }, tags: doc.tags });
    expect(parsed.success).toBe(true);
    expect(err.join('\n')).toContain('trusted an unknown server certificate');
  });

  it('into the real embedded store: kinds, values, statuses and source timestamps are kept as served', async () => {
    const storeDir = tempDir('fgw-opcua-store-');
    const store = openStore({ path: storeDir.path, maxSizeBytes: 64 * 1024 * 1024, retentionMs: 86_400_000, limitsIntervalMs: 0 });
    const cap2 = captureLog({ level: 'info' });
    const device = opcua.deviceSchema.parse({
      id: 'lathe-store',
      protocol: 'opcua',
      interval: '100ms',
      connection: { endpoint: sim.endpoint },
      tags: [
        { name: 'i64', nodeId: 'ns=1;s=Test.Int64' },
        { name: 'when', nodeId: 'ns=1;s=Test.DateTime' },
        { name: 'text', nodeId: 'ns=1;s=Test.LocalizedText' },
        { name: 'status', nodeId: 'ns=1;s=Test.Status' },
      ],
    });
    sim.set('Test.Int64', -9007199254740991, { sourceTimestamp: T0 + 10_000 });
    sim.set('Test.DateTime', Date.UTC(2026, 0, 2, 3, 4, 5, 678), { sourceTimestamp: T0 + 10_001 });
    sim.set('Test.LocalizedText', '运行', { sourceTimestamp: T0 + 10_002 });
    sim.set('Test.Status', 0, { status: 'BadSensorFailure', sourceTimestamp: T0 + 10_003 });
    const a = opcua.create(device, makeCtx('lathe-store', dir.path, store, cap2.log));
    try {
      await a.start();
      await waitFor('4 readings stored', () => store.latest('lathe-store').length === 4);
      const byTag = Object.fromEntries(store.latest('lathe-store').map((r) => [r.tag, r]));
      expect(byTag.i64).toMatchObject({ kind: 'integer', value: -9007199254740991, quality: 'good', ts: T0 + 10_000 });
      expect(byTag.when).toMatchObject({ kind: 'integer', value: Date.UTC(2026, 0, 2, 3, 4, 5, 678), quality: 'good', ts: T0 + 10_001 });
      expect(byTag.text).toMatchObject({ kind: 'string', value: '运行', quality: 'good', ts: T0 + 10_002 });
      expect(byTag.status).toMatchObject({ kind: 'float', value: null, quality: 'bad', error: 'BadSensorFailure', ts: T0 + 10_003 });
    } finally {
      await a.stop();
      await store.close();
      storeDir.cleanup();
    }
  });
});
