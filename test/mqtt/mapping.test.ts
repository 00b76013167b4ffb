/**
 * The pure MQTT mapping core: topic patterns with captures, JSON paths, timestamps, raw payloads,
 * value conversion and whole-message decoding, as tables with expected values written by hand.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  MapKindMemory,
  buildPlan,
  compileJsonPath,
  compileTemplate,
  compileTopicPattern,
  convertValue,
  decodeMessage,
  getPath,
  parseTimestamp,
  rawValue,
  type PlanInput,
} from '../../adapters/mqtt/mapping.js';
import mqttModule from '../../adapters/mqtt/index.js';
import { mqttDeviceSchema } from '../../adapters/mqtt/schema.js';

describe('topic patterns', () => {
  it.each([
    ['plant/line-01/press/status', 'plant/line-01/press/status', {}],
    ['plant/+/press/status', 'plant/line-01/press/status', {}],
    ['plant/+line/+device/telemetry', 'plant/line-01/press-7/telemetry', { line: 'line-01', device: 'press-7' }],
    ['plant/#', 'plant/a/b/c', {}],
    ['plant/#', 'plant', {}],
    ['plant/#rest', 'plant/a/b', { rest: 'a/b' }],
    ['plant/+line/#rest', 'plant/l1/x/y', { line: 'l1', rest: 'x/y' }],
    ['#', 'anything/at/all', {}],
    ['+a/+b', 'x/', { a: 'x', b: '' }],
  ])('%s matches %s with captures %j', (pattern, topic, captures) => {
    expect(compileTopicPattern(pattern).match(topic)).toEqual(captures);
  });

  it.each([
    ['plant/+/press/status', 'plant/line-01/press/status/extra'],
    ['plant/+/press/status', 'plant/press/status'],
    ['plant/+line/+device/telemetry', 'plant/l1/d1/status'],
    ['plant/a', 'plant/b'],
    ['+/x', '$SYS/x'],
    ['#', '$SYS/broker/uptime'],
  ])('%s does not match %s', (pattern, topic) => {
    expect(compileTopicPattern(pattern).match(topic)).toBeUndefined();
  });

  it.each([
    ['plant/+line/+device/telemetry', 'plant/+/+/telemetry', ['line', 'device']],
    ['a/#rest', 'a/#', ['rest']],
    ['a/b', 'a/b', []],
  ])('%s subscribes as %s capturing %j', (pattern, filter, captures) => {
    const p = compileTopicPattern(pattern);
    expect(p.filter).toBe(filter);
    expect(p.captures).toEqual(captures);
  });

  it.each([['a/#/b'], ['a/b+/c'], ['a/+x-y/c'], ['a/+d/+d'], ['']])('refuses %j', (pattern) => {
    expect(() => compileTopicPattern(pattern)).toThrow();
  });
});

describe('templates', () => {
  it.each([
    ['{line}-{device}', { line: 'l1', device: 'p7' }, 'l1-p7'],
    ['{sensor}_temp', { sensor: 's3' }, 's3_temp'],
    ['fixed', {}, 'fixed'],
  ])('%s with %j → %s', (t, caps, out) => {
    expect(compileTemplate(t).render(caps)).toBe(out);
  });
  it.each([['{a'], ['a}'], ['{a-b}']])('refuses %s', (t) => expect(() => compileTemplate(t)).toThrow());
});

describe('JSON paths', () => {
  const doc = {
    motor: { current: 3.2 },
    motors: [{ current: 1 }, { current: 2.5 }],
    'a.b': 7,
    list: [
      [1, 2],
      [3, 4],
    ],
    zero: 0,
    no: false,
    nil: null,
  };
  it.each([
    ['motor.current', 3.2],
    ['motors[1].current', 2.5],
    ["['a.b']", 7],
    ['list[1][0]', 3],
    ['zero', 0],
    ['no', false],
    ['nil', null],
  ])('%s → %j', (path, value) => {
    expect(getPath(doc, compileJsonPath(path))).toEqual({ found: true, value });
  });
  it.each([['motor.voltage'], ['motors[2].current'], ['motor[0]'], ['motors.current'], ['zero.x']])('%s is missing', (path) => {
    expect(getPath(doc, compileJsonPath(path))).toEqual({ found: false });
  });
  it('an empty path is the whole document', () => {
    expect(getPath(42, compileJsonPath(''))).toEqual({ found: true, value: 42 });
  });
  it.each([['a..b'], ['a.'], ['a[x]'], ['a[1'], ['a[1]b']])('refuses %s', (path) => expect(() => compileJsonPath(path)).toThrow());
});

describe('timestamps', () => {
  it.each([
    [1767225600000, 1767225600000], // ms
    [1767225600, 1767225600000], // s
    [1767225600.5, 1767225600500], // fractional s
    ['1767225600000', 1767225600000],
    ['2026-01-01T00:00:00Z', 1767225600000],
    ['2026-01-01T08:00:00+08:00', 1767225600000],
    ['2026-01-01T00:00:00.250Z', 1767225600250],
    ['2026-01-01T00:00:00', 1767225600000], // no zone: UTC
    ['2026-01-01 00:00:00', 1767225600000],
  ])('%j → %d', (v, ms) => expect(parseTimestamp(v)).toBe(ms));
  it.each([['yesterday'], [null], [true], [-5], ['2026-13-45T99:00:00Z'], [{}]])('%j is not a timestamp', (v) => expect(parseTimestamp(v)).toBeUndefined());
});

describe('value conversion (kind fixed by config or first value)', () => {
  it.each([
    [3.5, 'float', 3.5],
    ['3.5', 'float', 3.5],
    [7, 'integer', 7],
    ['-12', 'integer', -12],
    [1, 'boolean', true],
    ['false', 'boolean', false],
    ['TRUE', 'boolean', true],
    [true, 'boolean', true],
    [12, 'string', '12'],
    [true, 'string', 'true'],
    ['running', 'string', 'running'],
  ] as const)('%j as %s → %j', (v, kind, out) => {
    expect(convertValue(v, kind)).toEqual({ ok: true, value: out });
  });
  it.each([
    ['running', 'float'],
    [3.5, 'integer'],
    ['3.5', 'integer'],
    [2 ** 60, 'integer'],
    [2, 'boolean'],
    ['yes', 'boolean'],
    [true, 'float'],
    [null, 'string'],
    [{ a: 1 }, 'string'],
    [[1], 'float'],
  ] as const)('%j as %s is refused', (v, kind) => {
    expect(convertValue(v, kind)).toEqual({ ok: false });
  });
  it.each([
    ['42', 42],
    ['-1.5e3', -1500],
    ['true', true],
    ['false', false],
    ['running', 'running'],
    [' 7 ', 7],
  ])('raw %j → %j', (text, v) => expect(rawValue(text)).toEqual(v));
});

describe('decodeMessage', () => {
  const T0 = 1_767_225_600_000;
  const base: PlanInput = {
    id: 'polisher-04',
    format: 'json',
    maxPayloadSize: 1000,
    tags: [
      { name: 'state', topic: 'plant/line-01/polisher-04/status', path: 'state' },
      { name: 'pieces', topic: 'plant/line-01/polisher-04/telemetry', path: 'counters.pieces', timestampPath: 'ts', type: 'integer' },
      { name: 'motor_current', topic: 'plant/line-01/polisher-04/telemetry', path: 'motor.current', timestampPath: 'ts' },
    ],
  };
  const enc = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

  it('maps one telemetry message to two readings with the source timestamp', () => {
    const plan = buildPlan(base);
    const r = decodeMessage(
      plan,
      'plant/line-01/polisher-04/telemetry',
      enc({ ts: 1767225601, counters: { pieces: 12 }, motor: { current: 4.25 } }),
      T0,
      new MapKindMemory(),
    );
    expect(r.dead).toEqual([]);
    expect(r.readings).toEqual([
      { device: 'polisher-04', tag: 'pieces', ts: 1767225601000, kind: 'integer', value: 12, quality: 'good' },
      { device: 'polisher-04', tag: 'motor_current', ts: 1767225601000, kind: 'float', value: 4.25, quality: 'good' },
    ]);
  });

  it('an untyped tag keeps the kind of its first value: "running" fixes string, 3 then becomes "3"', () => {
    const plan = buildPlan(base);
    const kinds = new MapKindMemory();
    const a = decodeMessage(plan, 'plant/line-01/polisher-04/status', enc({ state: 'running' }), T0, kinds);
    const b = decodeMessage(plan, 'plant/line-01/polisher-04/status', enc({ state: 3 }), T0 + 1, kinds);
    expect(a.readings[0]).toMatchObject({ kind: 'string', value: 'running', ts: T0 });
    expect(b.readings[0]).toMatchObject({ kind: 'string', value: '3', ts: T0 + 1 });
  });

  it('an untyped tag first seen as a number is float; a later word is WRONG_TYPE', () => {
    const plan = buildPlan(base);
    const kinds = new MapKindMemory();
    const a = decodeMessage(plan, 'plant/line-01/polisher-04/status', enc({ state: 2 }), T0, kinds);
    const b = decodeMessage(plan, 'plant/line-01/polisher-04/status', enc({ state: 'idle' }), T0, kinds);
    expect(a.readings[0]).toMatchObject({ kind: 'float', value: 2 });
    expect(b.readings).toEqual([]);
    expect(b.dead.map((d) => d.reason)).toEqual(['WRONG_TYPE']);
  });

  it.each([
    ['not JSON', 'plant/line-01/polisher-04/telemetry', '{oops', ['NOT_JSON']],
    ['empty', 'plant/line-01/polisher-04/telemetry', '', ['EMPTY']],
    ['oversize', 'plant/line-01/polisher-04/telemetry', JSON.stringify({ pad: 'x'.repeat(1200) }), ['OVERSIZE']],
    ['missing paths (one dead letter for the message)', 'plant/line-01/polisher-04/telemetry', JSON.stringify({ ts: 1767225601 }), ['PATH_MISSING']],
    [
      'wrong type for an integer',
      'plant/line-01/polisher-04/telemetry',
      JSON.stringify({ ts: 1767225601, counters: { pieces: 'many' }, motor: { current: 1 } }),
      ['WRONG_TYPE'],
    ],
    ['object where a value should be', 'plant/line-01/polisher-04/status', JSON.stringify({ state: { a: 1 } }), ['WRONG_TYPE']],
    ['null value', 'plant/line-01/polisher-04/status', JSON.stringify({ state: null }), ['WRONG_TYPE']],
    ['bad timestamp', 'plant/line-01/polisher-04/telemetry', JSON.stringify({ ts: 'soon', counters: { pieces: 1 }, motor: { current: 1 } }), ['BAD_TIMESTAMP']],
  ])('%s → dead letters %j', (_what, topic, payload, reasons) => {
    const r = decodeMessage(buildPlan(base), topic, enc(payload), T0, new MapKindMemory());
    expect(r.dead.map((d) => d.reason)).toEqual(reasons);
    expect(r.dead.every((d) => d.device === 'polisher-04' && d.topic === topic)).toBe(true);
  });

  it('a topic of nobody matches nothing', () => {
    expect(decodeMessage(buildPlan(base), 'other/topic', enc({}), T0, new MapKindMemory())).toEqual({ readings: [], dead: [], matched: 0 });
  });

  it('fleet capture: device and field names come from the topic', () => {
    const plan = buildPlan({
      id: 'polishers',
      format: 'json',
      maxPayloadSize: 1000,
      deviceTemplate: '{line}.{device}',
      tags: [{ name: 'temp', topic: 'plant/+line/+device/sensors/+sensor', path: 'v', nameTemplate: '{sensor}_temp', type: 'float' }],
    });
    expect(plan.filters).toEqual(['plant/+/+/sensors/+']);
    const r = decodeMessage(plan, 'plant/line-02/pol-9/sensors/s1', enc({ v: 21.5 }), T0, new MapKindMemory());
    expect(r.readings).toEqual([{ device: 'line-02.pol-9', tag: 's1_temp', ts: T0, kind: 'float', value: 21.5, quality: 'good' }]);
    const bad = decodeMessage(plan, 'plant/line 2/pol-9/sensors/s1', enc({ v: 1 }), T0, new MapKindMemory());
    expect(bad.dead.map((d) => d.reason)).toEqual(['BAD_CAPTURE']);
  });

  it.each([
    ['42', undefined, 'float', 42],
    ['true', undefined, 'boolean', true],
    ['auto', undefined, 'string', 'auto'],
    ['42', 'integer', 'integer', 42],
    ['1', 'boolean', 'boolean', true],
    ['007', 'string', 'string', '007'],
  ] as const)('raw payload %j (type %s) → %s %j', (payload, type, kind, value) => {
    const tag: PlanInput['tags'][number] = { name: 'v', topic: 'raw/v' };
    const plan = buildPlan({ id: 'd', format: 'raw', maxPayloadSize: 100, tags: [type ? { ...tag, type } : tag] });
    expect(decodeMessage(plan, 'raw/v', enc(payload), T0, new MapKindMemory()).readings).toEqual([
      { device: 'd', tag: 'v', ts: T0, kind, value, quality: 'good' },
    ]);
  });

  it('a JSON scalar without a path is the value', () => {
    const plan = buildPlan({ id: 'd', format: 'json', maxPayloadSize: 100, tags: [{ name: 'v', topic: 't' }] });
    expect(decodeMessage(plan, 't', enc('17.5'), T0, new MapKindMemory()).readings[0]).toMatchObject({ value: 17.5, kind: 'float' });
  });
});

describe('device schema', () => {
  it('accepts the canonical polisher-04 device as written, with defaults', () => {
    const d = mqttDeviceSchema.parse({
      id: 'polisher-04',
      name: '抛光机 4 号',
      line: 'line-01',
      process: 'polishing',
      protocol: 'mqtt',
      connection: { url: 'mqtt://127.0.0.1:1883', clientId: 'gw-line-01', qos: 1 },
      interval: '5s',
      tags: [
        { name: 'state', role: 'state', topic: 'plant/line-01/polisher-04/status', path: 'state' },
        { name: 'pieces', role: 'counter', topic: 'plant/line-01/polisher-04/telemetry', path: 'counters.pieces', timestampPath: 'ts' },
        { name: 'motor_current', role: 'parameter', topic: 'plant/line-01/polisher-04/telemetry', path: 'motor.current', unit: 'A', timestampPath: 'ts' },
      ],
    });
    expect(d.interval).toBe(5000);
    expect(d.format).toBe('json');
    expect(d.maxPayloadSize).toBe(262144);
    expect(d.connection).toMatchObject({ protocolVersion: 5, cleanStart: false, keepalive: 30000, qos: 1 });
  });

  const ok = { id: 'd', protocol: 'mqtt', connection: { url: 'mqtt://h:1883' }, tags: [{ name: 'v', topic: 'a/b' }] };
  it.each([
    ['unknown key', { ...ok, bogus: 1 }, []],
    ['missing topic', { ...ok, tags: [{ name: 'v' }] }, ['tags', 0, 'topic']],
    ['bad topic', { ...ok, tags: [{ name: 'v', topic: 'a/#/b' }] }, ['tags', 0, 'topic']],
    ['bad path', { ...ok, tags: [{ name: 'v', topic: 'a', path: 'a..b' }] }, ['tags', 0, 'path']],
    ['capture not in topic', { ...ok, deviceTemplate: '{line}', tags: [{ name: 'v', topic: 'a/+x' }] }, ['tags', 0, 'topic']],
    ['sparkplugb without sparkplug', { ...ok, format: 'sparkplugb', tags: [{ name: 'v' }] }, ['sparkplug']],
    ['raw with path', { ...ok, format: 'raw', tags: [{ name: 'v', topic: 'a', path: 'x' }] }, ['tags', 0, 'path']],
    ['bad url', { ...ok, connection: { url: 'http://h' } }, ['connection', 'url']],
    ['bad protocolVersion', { ...ok, connection: { url: 'mqtt://h', protocolVersion: 3 } }, ['connection', 'protocolVersion']],
    ['wildcard write topic', { ...ok, tags: [{ name: 'v', topic: 'a', writeTopic: 'a/+' }] }, ['tags', 0, 'writeTopic']],
  ])('refuses %s, naming the path', (_what, input, path) => {
    const r = mqttDeviceSchema.safeParse(input);
    expect(r.success).toBe(false);
    if (path.length) expect(r.error!.issues.map((i) => i.path)).toContainEqual(path);
  });
});

describe('README samples', () => {
  const readme = readFileSync(new URL('../../adapters/mqtt/README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const devices = blocks.flatMap((b) => (parse(b) as { devices: Array<{ id: string }> }).devices);
  it('has JSON, fleet, raw and Sparkplug samples', () => {
    expect(devices.map((d) => d.id)).toEqual(['polisher-04', 'polishers', 'oven-2', 'boiler-1', 'pump-1']);
  });
  it.each(devices.map((d) => [d.id, d] as const))('sample %s parses with the device schema', (_id, d) => {
    const r = mqttDeviceSchema.safeParse(d);
    expect(r.error?.issues ?? []).toEqual([]);
  });
});

describe('warnings for `fgw check`', () => {
  it.each([
    [{ qos: 0 }, 'devices[3].connection.qos'],
    [{ qos: 2 }, 'devices[3].connection.qos'],
    [{ cleanStart: true }, 'devices[3].connection.cleanStart'],
    [{ clientId: undefined }, 'devices[3].connection.clientId'],
    [{ password: 'x' }, 'devices[3].connection.password'],
  ])('%j → a warning naming %s', (conn, path) => {
    const d = mqttDeviceSchema.parse({ id: 'd', protocol: 'mqtt', connection: { url: 'mqtt://h', clientId: 'c', ...conn }, tags: [{ name: 'v', topic: 't' }] });
    const w = mqttModule.warnings!(d, 'devices[3]');
    expect(w.length).toBe(1);
    expect(w[0]!.startsWith(`${path}:`)).toBe(true);
  });
  it('the canonical settings draw no warning', () => {
    const d = mqttDeviceSchema.parse({
      id: 'd',
      protocol: 'mqtt',
      connection: { url: 'mqtt://h', clientId: 'gw-line-01', qos: 1 },
      tags: [{ name: 'v', topic: 't' }],
    });
    expect(mqttModule.warnings!(d, 'devices[3]')).toEqual([]);
  });
});
