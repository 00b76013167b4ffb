/**
 * Property-based fuzzing of the MQTT mapping (fast-check): JSON and raw messages (values, paths,
 * timestamps and topics drawn from what devices really send and from what they must not), and
 * sequences of Sparkplug B births, data and deaths with random aliases, datatypes, values and
 * timestamps, plus random bytes. Properties, for every message:
 * - decoding never throws;
 * - at most one dead letter, and exactly one when some matched tag gave no reading (every
 *   malformed payload becomes exactly one dead letter);
 * - a good reading is never a non-finite number, its value fits its kind, its time lies in the
 *   accepted window around the receive time.
 * Seed fixed (FGW_FUZZ_SEED overrides it); fast-check prints seed, path and counterexample on failure.
 */
import fc from 'fast-check';
import { get as sparkplug } from 'sparkplug-payload';
import { describe, it } from 'vitest';
import { MapKindMemory, TS_MAX_AHEAD_MS, TS_MAX_BEHIND_MS, buildPlan, decodeMessage, type DevicePlan } from '../../adapters/mqtt/mapping.js';
import { SparkplugState } from '../../adapters/mqtt/sparkplug.js';
import type { Reading } from '../../adapters/types.js';

const SEED = Number(process.env.FGW_FUZZ_SEED ?? 20261203);
const NOW = Date.UTC(2026, 5, 1, 8, 0, 0);
const sp = sparkplug('spBv1.0')!;

function checkReadings(readings: readonly Reading[], now: number): void {
  for (const r of readings) {
    if (r.quality === 'bad') continue;
    if (r.ts < now - TS_MAX_BEHIND_MS || r.ts > now + TS_MAX_AHEAD_MS || !Number.isFinite(r.ts))
      throw new Error(`good reading at an absurd time: ${JSON.stringify(r)}`);
    const v = r.value;
    const fits =
      (r.kind === 'float' && typeof v === 'number' && Number.isFinite(v)) ||
      (r.kind === 'integer' && typeof v === 'number' && Number.isSafeInteger(v)) ||
      (r.kind === 'boolean' && typeof v === 'boolean') ||
      (r.kind === 'string' && typeof v === 'string');
    if (!fits) throw new Error(`good reading whose value does not fit its kind: ${JSON.stringify(r)} (${String(v)})`);
  }
}

const plans: DevicePlan[] = [
  buildPlan({
    id: 'polisher-04',
    format: 'json',
    maxPayloadSize: 2048,
    tags: [
      { name: 'state', topic: 'plant/l1/p4/status', path: 'state' },
      { name: 'pieces', topic: 'plant/l1/p4/telemetry', path: 'counters.pieces', timestampPath: 'ts', type: 'integer' },
      { name: 'current', topic: 'plant/l1/p4/telemetry', path: 'motor.current', timestampPath: 'ts' },
      { name: 'speed', topic: 'plant/l1/p4/telemetry', path: 'motors[0].setpoint', type: 'float' },
      { name: 'on', topic: 'plant/l1/p4/telemetry', path: "['a.b']", type: 'boolean' },
    ],
  }),
  buildPlan({
    id: 'fleet',
    format: 'json',
    maxPayloadSize: 2048,
    deviceTemplate: '{device}',
    tags: [{ name: 'temp', topic: 'plant/+line/+device/temp/+probe', path: 'v', type: 'float', nameTemplate: 'temp_{probe}' }],
  }),
  buildPlan({
    id: 'oven',
    format: 'raw',
    maxPayloadSize: 2048,
    tags: [
      { name: 'temp', topic: 'oven/temp', type: 'float' },
      { name: 'recipe', topic: 'oven/recipe', type: 'string' },
      { name: 'any', topic: 'oven/any' },
      { name: 'n', topic: 'oven/n', type: 'integer' },
    ],
  }),
];
const topics = [
  'plant/l1/p4/status',
  'plant/l1/p4/telemetry',
  'plant/l2/p7/temp/a',
  'plant/l2/bad id/temp/x',
  'plant/l2/p7/temp/ä',
  'oven/temp',
  'oven/recipe',
  'oven/any',
  'oven/n',
  'other/topic',
  '$SYS/x',
  '',
];

const nasty = fc.oneof(
  fc.constantFrom('1e999', '-1e999', 'NaN', 'Infinity', '', ' 42 ', '0x10', '1,5', '12abc', '9007199254740993', 'true', 'running', null, true, false),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.constant(1e308 * 10),
);
const timestamp = fc.oneof(
  fc.constantFrom(
    1.5,
    99_999_999_999_999,
    1e300,
    -1,
    0,
    '9999-12-31T00:00:00Z',
    '1990-01-01',
    '2026-06-01T08:00:00Z',
    'soon',
    NOW / 1000,
    NOW,
    NOW + 3 * 86_400_000,
  ),
  fc.integer({ min: NOW - 40 * 86_400_000, max: NOW + 2 * 86_400_000 }),
  fc.double(),
);
const telemetry = fc.record(
  {
    ts: timestamp,
    state: nasty,
    counters: fc.oneof(fc.record({ pieces: nasty }), nasty),
    motor: fc.oneof(fc.record({ current: nasty }), nasty),
    motors: fc.oneof(fc.array(fc.record({ setpoint: nasty }), { maxLength: 2 }), nasty),
    'a.b': nasty,
    v: nasty,
  },
  { requiredKeys: [] },
);
const payload = fc.oneof(
  telemetry.map((o) => new TextEncoder().encode(JSON.stringify(o))),
  fc.jsonValue().map((v) => new TextEncoder().encode(JSON.stringify(v) ?? '')),
  nasty.map((v) => new TextEncoder().encode(String(v))),
  fc.uint8Array({ maxLength: 64 }),
  fc.constant(new Uint8Array(3000)),
);

describe('MQTT mapping fuzz (fast-check)', () => {
  it('JSON and raw: never throws, at most one dead letter, exactly one when a matched tag gave nothing, good readings sane (5,000 messages)', () => {
    fc.assert(
      fc.property(fc.nat({ max: plans.length - 1 }), fc.constantFrom(...topics), payload, (p, topic, bytes) => {
        const r = decodeMessage(plans[p]!, topic, bytes, NOW, new MapKindMemory());
        if (r.matched === 0 && (r.readings.length > 0 || r.dead.length > 0)) throw new Error('output for an unmatched topic');
        if (r.dead.length > 1) throw new Error(`${r.dead.length} dead letters for one message`);
        const incomplete = r.matched > 0 && r.readings.length < r.matched;
        if (incomplete !== (r.dead.length === 1))
          throw new Error(`${r.readings.length} readings of ${r.matched} matched tags and ${r.dead.length} dead letters`);
        checkReadings(r.readings, NOW);
      }),
      { seed: SEED, numRuns: 5000 },
    );
  }, 120_000);

  const spType = fc.constantFrom(
    'Int8',
    'Int16',
    'Int32',
    'Int64',
    'UInt8',
    'UInt16',
    'UInt32',
    'UInt64',
    'Float',
    'Double',
    'Boolean',
    'String',
    'DateTime',
    'Text',
  );
  const spValue = (t: string): fc.Arbitrary<unknown> => {
    if (t === 'Boolean') return fc.boolean();
    if (t === 'String' || t === 'Text') return fc.string({ maxLength: 8 });
    if (t === 'Float' || t === 'Double') return fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, 1e308));
    if (t === 'Int8') return fc.integer({ min: -128, max: 127 });
    if (t === 'UInt8') return fc.integer({ min: 0, max: 255 });
    if (t === 'Int16') return fc.integer({ min: -32768, max: 32767 });
    if (t === 'UInt16') return fc.integer({ min: 0, max: 65535 });
    if (t === 'Int32') return fc.integer();
    if (t === 'UInt32') return fc.nat();
    return fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
  };
  const metric = spType.chain((type) =>
    fc.record(
      {
        name: fc.constantFrom('Temp', 'Count', 'Mode', 'bdSeq', 'Other'),
        alias: fc.nat({ max: 6 }),
        type: fc.constant(type),
        value: spValue(type),
        timestamp: fc.oneof(fc.constant(NOW), fc.integer({ min: 0, max: 2 ** 45 })),
      },
      { requiredKeys: ['type', 'value'] },
    ),
  );
  const message = fc.record({
    type: fc.constantFrom('NBIRTH', 'NDATA', 'NDEATH', 'DBIRTH', 'DDATA', 'DDEATH', 'NCMD', 'STATE'),
    device: fc.constantFrom(undefined, 'Pump1', 'Other'),
    body: fc.oneof(
      fc.record({
        timestamp: fc.oneof(fc.constant(NOW), fc.integer({ min: 0, max: 2 ** 45 })),
        seq: fc.nat({ max: 255 }),
        metrics: fc.array(metric, { maxLength: 5 }),
      }),
      fc.uint8Array({ maxLength: 40 }),
      fc.constant(new Uint8Array()),
      fc.constant(new Uint8Array(2000)),
    ),
  });

  it('Sparkplug B sequences: never throws, at most one dead letter per message, undecodable/empty/oversize ones exactly one, good readings sane (1,000 sequences of up to 12)', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(message, { minLength: 1, maxLength: 12 }), (deviceLevel, msgs) => {
        const state = new SparkplugState(
          { groupId: 'G', edgeNodeId: 'E', rebirthInterval: 0, maxPayloadSize: 1024, ...(deviceLevel ? { deviceId: 'Pump1' } : {}) },
          'boiler',
          [
            { name: 'temp', metric: 'Temp' },
            { name: 'count', metric: 'Count', type: 'integer' },
            { name: 'mode', metric: 'Mode', type: 'string' },
          ],
          new MapKindMemory(),
        );
        for (const m of msgs) {
          let bytes: Uint8Array;
          if (m.body instanceof Uint8Array) bytes = m.body;
          else {
            try {
              bytes = sp.encodePayload(m.body as Parameters<typeof sp.encodePayload>[0]);
            } catch {
              continue; // a combination the codec itself cannot encode
            }
          }
          const topic = `spBv1.0/G/${m.type}/E${m.device && m.type.startsWith('D') ? `/${m.device}` : ''}`;
          const r = state.handle(topic, bytes, NOW);
          if (r.dead.length > 1) throw new Error(`${r.dead.length} dead letters for one message`);
          const ours = !m.type.startsWith('D') ? !deviceLevel || !m.type.endsWith('DATA') : deviceLevel && m.device === 'Pump1';
          const broken = bytes.length === 0 || bytes.length > 1024;
          if (broken && ours && !m.type.endsWith('CMD') && m.type !== 'STATE' && !(deviceLevel && m.type.startsWith('N'))) {
            if (r.dead.length !== 1) throw new Error(`an ${bytes.length === 0 ? 'empty' : 'oversize'} ${m.type} gave ${r.dead.length} dead letters`);
          }
          checkReadings(r.readings, NOW);
        }
      }),
      { seed: SEED + 2, numRuns: 1000 },
    );
  }, 120_000);
});
