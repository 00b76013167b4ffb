/**
 * MQTT payloads that used to be stored as good or ignored without a trace (pure mapping, table
 * tests): numeric text beyond float64, absurd source timestamps, empty and oversize Sparkplug
 * payloads, the gateway's own rebirth command coming back on its subscription, and messages with
 * several bad tags (one dead letter each, so the dead-letter count is the count of bad payloads).
 * The same through a real Mosquitto, counted: test/mqtt/dead-letters.test.ts.
 */
import { get as sparkplug } from 'sparkplug-payload';
import { describe, expect, it } from 'vitest';
import { MapKindMemory, TS_MAX_AHEAD_MS, TS_MAX_BEHIND_MS, buildPlan, decodeMessage, timestampProblem } from '../../adapters/mqtt/mapping.js';
import { SparkplugState, rebirthPayload } from '../../adapters/mqtt/sparkplug.js';

const NOW = Date.UTC(2026, 5, 1, 8, 0, 0);
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const sp = sparkplug('spBv1.0')!;

const plan = buildPlan({
  id: 'p1',
  format: 'json',
  maxPayloadSize: 1024,
  tags: [
    { name: 'v', topic: 't', path: 'v', type: 'float' },
    { name: 'stamped', topic: 't', path: 'v', timestampPath: 'ts', type: 'float' },
  ],
});
const rawPlan = buildPlan({
  id: 'r1',
  format: 'raw',
  maxPayloadSize: 1024,
  tags: [
    { name: 'typed', topic: 'raw/typed', type: 'float' },
    { name: 'untyped', topic: 'raw/untyped' },
  ],
});

describe('numeric text beyond float64 is no reading', () => {
  it.each<[string, string, Uint8Array]>([
    ['JSON numeric text for a float tag', 't', enc({ v: '1e999', ts: NOW })],
    ['JSON number 1e999 (parsed as Infinity)', 't', enc('{"v": 1e999, "ts": ' + NOW + '}')],
    ['raw text for a typed float tag', 'raw/typed', enc('1e999')],
    ['raw text for an untyped tag', 'raw/untyped', enc('-1e999')],
  ])('%s → one dead letter WRONG_TYPE, no good ±Infinity', (_name, topic, payload) => {
    const r = decodeMessage(topic.startsWith('raw') ? rawPlan : plan, topic, payload, NOW, new MapKindMemory());
    expect(r.readings).toEqual([]);
    expect(r.dead.map((d) => d.reason)).toEqual(['WRONG_TYPE']);
  });
});

describe('source timestamps: accepted from 30 days before to 1 day after the receive time', () => {
  it.each<[string, unknown]>([
    ['1.5 (epoch s: 1970)', 1.5],
    ['99999999999999 (epoch ms: year 5138)', 99_999_999_999_999],
    ['1e300', 1e300],
    ['year 9999', '9999-12-31T00:00:00Z'],
    ['far past', '1990-01-01T00:00:00Z'],
    ['31 days before', NOW - 31 * 86_400_000],
    ['2 days ahead', NOW + 2 * 86_400_000],
  ])('%s → BAD_TIMESTAMP; the value without timestampPath still lands', (_name, ts) => {
    const r = decodeMessage(plan, 't', enc({ v: 1, ts }), NOW, new MapKindMemory());
    expect(r.readings.map((x) => [x.tag, x.ts])).toEqual([['v', NOW]]);
    expect(r.dead).toHaveLength(1);
    expect(r.dead[0]).toMatchObject({
      reason: 'BAD_TIMESTAMP',
      detail: expect.stringMatching(/^stamped: timestamp at "ts" .*(before|after) the receive time|not a finite time/),
    });
  });

  it.each<[string, number, boolean]>([
    ['exactly 30 days before', NOW - TS_MAX_BEHIND_MS, true],
    ['exactly 1 day ahead', NOW + TS_MAX_AHEAD_MS, true],
    ['1 ms older', NOW - TS_MAX_BEHIND_MS - 1, false],
    ['1 ms further ahead', NOW + TS_MAX_AHEAD_MS + 1, false],
    ['NaN', NaN, false],
  ])('bounds: %s → accepted %s', (_name, ts, ok) => expect(timestampProblem(ts, NOW) === undefined).toBe(ok));
});

describe('one dead letter per malformed message', () => {
  it('two missing paths and a bad timestamp in one message: one entry, first reason, every detail', () => {
    const p = buildPlan({
      id: 'p2',
      format: 'json',
      maxPayloadSize: 1024,
      tags: [
        { name: 'a', topic: 't', path: 'a' },
        { name: 'b', topic: 't', path: 'b' },
        { name: 'c', topic: 't', path: 'c', timestampPath: 'ts' },
        { name: 'd', topic: 't', path: 'd' },
      ],
    });
    const r = decodeMessage(p, 't', enc({ c: 1, d: 2, ts: 1.5 }), NOW, new MapKindMemory());
    expect(r.readings.map((x) => x.tag)).toEqual(['d']);
    expect(r.dead).toHaveLength(1);
    expect(r.dead[0]!.reason).toBe('PATH_MISSING');
    expect(r.dead[0]!.detail).toMatch(/^PATH_MISSING: a: .*; PATH_MISSING: b: .*; BAD_TIMESTAMP: c: /);
  });
});

describe('Sparkplug: empty, oversize, the own rebirth command, absurd timestamps', () => {
  const state = (deviceId?: string) =>
    new SparkplugState(
      { groupId: 'G', edgeNodeId: 'E', rebirthInterval: 5000, maxPayloadSize: 1024, ...(deviceId ? { deviceId } : {}) },
      deviceId ? 'pump' : 'node',
      [{ name: 'temp', metric: 'Temp' }],
      new MapKindMemory(),
    );
  const birth = sp.encodePayload({
    timestamp: NOW,
    seq: 0,
    metrics: [
      { name: 'bdSeq', type: 'UInt64', value: 0 },
      { name: 'Temp', alias: 1, type: 'Double', value: 20 },
    ],
  });

  it.each<[string, string, Uint8Array, string]>([
    ['an empty NDATA', 'spBv1.0/G/NDATA/E', new Uint8Array(), 'EMPTY'],
    [
      'a 2 KB NDATA (maxPayloadSize 1 KB)',
      'spBv1.0/G/NDATA/E',
      sp.encodePayload({ timestamp: NOW, seq: 0, metrics: [{ name: 'Temp', type: 'String', value: 'x'.repeat(2000) }] }),
      'OVERSIZE',
    ],
    ['an empty NBIRTH', 'spBv1.0/G/NBIRTH/E', new Uint8Array(), 'EMPTY'],
  ])('%s is dead-lettered %s (it used to vanish)', (_name, topic, payload, reason) => {
    const s = state();
    s.handle('spBv1.0/G/NBIRTH/E', birth, NOW);
    const r = s.handle(topic, payload, NOW);
    expect(r.matched).toBe(true);
    expect(r.dead.map((d) => d.reason)).toEqual([reason]);
  });

  it('a node-level empty payload is reported by the node source only, not again by a device under it', () => {
    expect(state('Pump1').handle('spBv1.0/G/NDATA/E', new Uint8Array(), NOW)).toMatchObject({ matched: false, dead: [] });
  });

  it("the gateway's own rebirth NCMD (and DCMD, STATE) is matched and ignored: no dead letter, no NO_DEVICE", () => {
    for (const [topic, payload] of [
      ['spBv1.0/G/NCMD/E', rebirthPayload(NOW)],
      ['spBv1.0/G/DCMD/E/Pump1', rebirthPayload(NOW)],
      ['spBv1.0/G/STATE/E', enc('ONLINE')],
    ] as const) {
      expect(state().handle(topic, payload, NOW)).toEqual({ readings: [], dead: [], rebirth: false, matched: true, ignored: true });
    }
  });

  it('an absurd metric or payload timestamp is BAD_TIMESTAMP; a death with one falls back to the receive time', () => {
    const s = state();
    s.handle('spBv1.0/G/NBIRTH/E', birth, NOW);
    const data = s.handle('spBv1.0/G/NDATA/E', sp.encodePayload({ timestamp: 1, seq: 1, metrics: [{ alias: 1, type: 'Double', value: 21 }] }), NOW);
    expect(data.readings).toEqual([]);
    expect(data.dead.map((d) => d.reason)).toEqual(['BAD_TIMESTAMP']);
    const own = s.handle(
      'spBv1.0/G/NDATA/E',
      sp.encodePayload({ timestamp: NOW, seq: 2, metrics: [{ alias: 1, type: 'Double', value: 22, timestamp: 253_402_300_799_000 }] }),
      NOW,
    );
    expect(own.dead.map((d) => d.reason)).toEqual(['BAD_TIMESTAMP']);
    const death = s.handle(
      'spBv1.0/G/NDEATH/E',
      sp.encodePayload({ timestamp: 99_999_999_999_999, metrics: [{ name: 'bdSeq', type: 'UInt64', value: 0 }] }),
      NOW,
    );
    expect(death.readings.map((x) => [x.tag, x.ts, x.quality, x.error])).toEqual([['temp', NOW, 'bad', 'NDEATH']]);
  });
});
