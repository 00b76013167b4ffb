import { escape } from 'influx';
import { describe, expect, it } from 'vitest';
import type { FieldKind, Quality, Value } from '../../adapters/types.js';
import { escapeKey, escapeString, escapeTagValue, fieldValue, formatAudits, formatReadings, type LineContext } from '../../ingest/line-protocol.js';
import { nsTimestamp } from '../../ingest/tie-break.js';
import type { Measurement, StoredAudit, StoredReading } from '../../ingest/types.js';

const T = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const ctx: LineContext = {
  measurement: 'equipment',
  gateway: { id: 'line-01', site: 'yk plant' },
  deviceMeta: (d) => (d === 'press-01' ? { line: 'line-01', process: 'stamping' } : d === 'lathe-03' ? { line: '一号线' } : {}),
};
const P = 'equipment,device=press-01,gateway=line-01,line=line-01,process=stamping,site=yk\\ plant';

let seq = 0;
function r(
  device: string,
  tag: string,
  kind: FieldKind,
  value: Value | null,
  ts = T,
  quality: Quality = 'good',
  measurement: Measurement = 'data',
): StoredReading {
  return { seq: ++seq, measurement, device, tag, kind, ts, value, quality };
}
const texts = (rows: StoredReading[]) => formatReadings(rows, ctx).map((l) => l.text);

describe('fieldValue: the kind fixes the InfluxDB type, never the value', () => {
  it.each<[FieldKind, Value | null, string | undefined]>([
    ['float', 1.5, '1.5'],
    ['float', 20, '20'],
    ['float', -0.001, '-0.001'],
    ['float', 1e21, '1e+21'],
    ['float', true, '1'],
    ['float', '1.25', '1.25'],
    ['float', 'x', undefined],
    ['float', '', undefined],
    ['float', NaN, undefined],
    ['float', Infinity, undefined],
    ['integer', 42, '42i'],
    ['integer', -2, '-2i'],
    ['integer', 3.7, '3i'],
    ['integer', false, '0i'],
    ['integer', 2 ** 53, '9007199254740992i'],
    ['integer', 1e19, undefined],
    ['integer', '17', '17i'],
    ['boolean', true, 'true'],
    ['boolean', 0, 'false'],
    ['boolean', 2, 'true'],
    ['boolean', 'true', 'true'],
    ['boolean', 'maybe', undefined],
    ['string', 'P 1', '"P 1"'],
    ['string', 5, '"5"'],
    ['string', 'a"b', '"a\\"b"'],
    ['float', null, undefined],
  ])('%s %j → %s', (kind, value, expected) => {
    expect(fieldValue(kind, value)).toBe(expected);
  });
});

describe('escaping', () => {
  it.each([
    ['a b,c=d', 'a\\ b\\,c\\=d'],
    ['冲压机 1 号', '冲压机\\ 1\\ 号'],
    ['two\nlines', 'two\\ lines'],
    ['trailing\\', 'trailing'],
    ['mid\\dle', 'mid\\dle'],
  ])('tag value %j → %j', (input, expected) => expect(escapeTagValue(input)).toBe(expected));

  it.each([
    ['my tag=', 'my\\ tag\\='],
    ['oil_temp', 'oil_temp'],
    ['a,b', 'a\\,b'],
  ])('key %j → %j', (input, expected) => expect(escapeKey(input)).toBe(expected));

  it.each([
    ['say "hi"', '"say \\"hi\\""'],
    ['C:\\dir', '"C:\\\\dir"'],
    ['line1\nline2', '"line1\nline2"'],
    ['a, b = c', '"a, b = c"'],
    ['冲压机 "1" 号', '"冲压机 \\"1\\" 号"'],
    ["it\\'s", '"it\\\\\'s"'],
  ])('string field %j → %j', (input, expected) => expect(escapeString(input)).toBe(expected));

  it("why string fields do not use influx's escape.quoted: it rewrites \\' before escaping", () => {
    expect(escape.quoted("it\\'s")).not.toBe(escapeString("it\\'s"));
    expect(escape.quoted('plain "x"')).toBe(escapeString('plain "x"'));
  });
});

describe('formatReadings', () => {
  it.each<[string, () => StoredReading[], string[]]>([
    ['float', () => [r('press-01', 'tonnage', 'float', 12.5)], [`${P} tonnage=12.5 ${T}000000`]],
    ['integer', () => [r('press-01', 'strokes', 'integer', 42)], [`${P} strokes=42i ${T}000000`]],
    ['boolean', () => [r('press-01', 'door_open', 'boolean', false)], [`${P} door_open=false ${T}000000`]],
    ['string', () => [r('press-01', 'program', 'string', 'P 1, "B"')], [`${P} program="P 1, \\"B\\"" ${T}000000`]],
    ['uncertain is written, tagged uncertain=true', () => [r('press-01', 'tonnage', 'float', 1, T, 'uncertain')], [`${P},uncertain=true tonnage=1 ${T}000000`]],
    [
      'good and uncertain readings of one poll are two points (two series)',
      () => [r('press-01', 'state', 'integer', 2), r('press-01', 'tonnage', 'float', 1, T, 'uncertain'), r('press-01', 'strokes', 'integer', 5)],
      [`${P} state=2i ${T}000000`, `${P},uncertain=true tonnage=1 ${T}000000`, `${P} strokes=5i ${T}000000`],
    ],
    ['bad is skipped', () => [r('press-01', 'tonnage', 'float', null, T, 'bad')], []],
    [
      'same device and ts merge into one line',
      () => [r('press-01', 'state', 'integer', 2), r('press-01', 'tonnage', 'float', 801.5), r('press-01', 'door_open', 'boolean', true)],
      [`${P} state=2i,tonnage=801.5,door_open=true ${T}000000`],
    ],
    [
      'a bad row in between does not break the merge',
      () => [r('press-01', 'state', 'integer', 2), r('press-01', 'oil_temp', 'float', null, T, 'bad'), r('press-01', 'tonnage', 'float', 3)],
      [`${P} state=2i,tonnage=3 ${T}000000`],
    ],
    [
      'another ts starts a new line',
      () => [r('press-01', 'state', 'integer', 1), r('press-01', 'state', 'integer', 2, T + 1)],
      [`${P} state=1i ${T}000000`, `${P} state=2i ${T + 1}000000`],
    ],
    [
      'another device starts a new line; meta per device',
      () => [r('press-01', 'state', 'integer', 1), r('lathe-03', 'state', 'integer', 1), r('x', 'state', 'integer', 1)],
      [
        `${P} state=1i ${T}000000`,
        `equipment,device=lathe-03,gateway=line-01,line=一号线,site=yk\\ plant state=1i ${T}000000`,
        `equipment,device=x,gateway=line-01,site=yk\\ plant state=1i ${T}000000`,
      ],
    ],
    [
      'a repeated field starts a new line',
      () => [r('press-01', 'state', 'integer', 1), r('press-01', 'state', 'integer', 2)],
      [`${P} state=1i ${T}000000`, `${P} state=2i ${T}000000`],
    ],
    ['NaN float is skipped', () => [r('press-01', 'tonnage', 'float', NaN), r('press-01', 'state', 'integer', 1)], [`${P} state=1i ${T}000000`]],
    [
      'heartbeat',
      () => [r('', 'heartbeat', 'boolean', true, T, 'good', 'status')],
      [`gateway_status,gateway=line-01,site=yk\\ plant heartbeat=true ${T}000000`],
    ],
    [
      'device status merges into one point',
      () => [
        r('press-01', 'connected', 'boolean', true, T, 'good', 'status'),
        r('press-01', 'good', 'integer', 10, T, 'good', 'status'),
        r('press-01', 'bad', 'integer', 0, T, 'good', 'status'),
        r('press-01', 'lastError', 'string', 'TIMEOUT', T, 'good', 'status'),
      ],
      [`gateway_status,device=press-01,gateway=line-01,site=yk\\ plant connected=true,good=10i,bad=0i,lastError="TIMEOUT" ${T}000000`],
    ],
    [
      'status and data at the same ts stay apart',
      () => [r('press-01', 'connected', 'boolean', true, T, 'good', 'status'), r('press-01', 'state', 'integer', 1)],
      [`gateway_status,device=press-01,gateway=line-01,site=yk\\ plant connected=true ${T}000000`, `${P} state=1i ${T}000000`],
    ],
  ])('%s', (_name, rows, expected) => {
    expect(texts(rows())).toEqual(expected);
  });

  it('each line carries the seq range of its rows (skipped rows inside included) and its field count', () => {
    const rows = [
      r('press-01', 'a', 'integer', 1),
      r('press-01', 'b', 'float', null, T, 'bad'),
      r('press-01', 'c', 'integer', 3),
      r('press-01', 'a', 'integer', 4, T + 5),
    ];
    const s0 = rows[0]!.seq;
    expect(formatReadings(rows, ctx).map(({ firstSeq, lastSeq, fields, device }) => ({ firstSeq, lastSeq, fields, device }))).toEqual([
      { firstSeq: s0, lastSeq: s0 + 2, fields: 2, device: 'press-01' },
      { firstSeq: s0 + 3, lastSeq: s0 + 3, fields: 1, device: 'press-01' },
    ]);
  });

  it('readings of one series in the same ms keep their tie: each is its own point, ns apart (T ms = T·10^6 ns)', () => {
    const tied = (tag: string, value: number, tie: number) => ({ ...r('press-01', tag, 'integer', value), tie });
    // the burst: three readings of `count` in one ms (ties 0, 1, 2 from the store)
    expect(texts([tied('count', 1, 0), tied('count', 2, 1), tied('count', 3, 2)])).toEqual([
      `${P} count=1i ${T}000000`,
      `${P} count=2i ${T}000001`,
      `${P} count=3i ${T}000002`,
    ]);
    // two messages of two fields each in one ms: the fields of each still merge into one point
    expect(texts([tied('a', 1, 0), tied('b', 2, 0), tied('a', 3, 1), tied('b', 4, 1)])).toEqual([`${P} a=1i,b=2i ${T}000000`, `${P} a=3i,b=4i ${T}000001`]);
    // the largest tie and a ts past 2^53 ns are written exactly
    expect(texts([tied('a', 1, 999_999)])).toEqual([`${P} a=1i ${T}999999`]);
  });

  it('nsTimestamp: ts ms and tie as exact nanoseconds', () => {
    expect(nsTimestamp(1, 0)).toBe('1000000');
    expect(nsTimestamp(T, 42)).toBe(`${T}000042`);
    expect(nsTimestamp(0, 3)).toBe('3');
    expect(nsTimestamp(-5, 3)).toBe('-4999997'); // -5 ms + 3 ns
  });

  it('a gateway without site has no site tag', () => {
    const lines = formatReadings([r('', 'heartbeat', 'boolean', true, T, 'good', 'status')], { ...ctx, gateway: { id: 'gw 1' } });
    expect(lines.map((l) => l.text)).toEqual([`gateway_status,gateway=gw\\ 1 heartbeat=true ${T}000000`]);
  });
});

describe('formatAudits', () => {
  it.each<[string, StoredAudit, string]>([
    [
      'a read by MES',
      { seq: 7, ts: T, actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/devices/:id/history', device: 'press-01', result: 'ok' },
      `gateway_audit,device=press-01,gateway=line-01,site=yk\\ plant,system=MES actor="mes",action="read",route="GET /api/devices/:id/history",result="ok" ${T}007`,
    ],
    [
      'a write with value and detail, seq beyond 1000',
      {
        seq: 2345,
        ts: T + 1,
        actor: 'operator',
        system: 'platform',
        action: 'write',
        route: 'POST /api/devices/:id/tags/:tag',
        device: 'press-01',
        tag: 'setpoint',
        value: '12.5',
        result: 'denied',
        detail: 'above max "10"',
      },
      `gateway_audit,device=press-01,gateway=line-01,site=yk\\ plant,system=platform actor="operator",action="write",route="POST /api/devices/:id/tags/:tag",tag="setpoint",value="12.5",result="denied",detail="above max \\"10\\"" ${T + 1}345`,
    ],
    [
      'no device',
      { seq: 1000, ts: T, actor: 'anonymous', system: 'ERP', action: 'read', route: 'GET /api/devices', result: 'ok' },
      `gateway_audit,gateway=line-01,site=yk\\ plant,system=ERP actor="anonymous",action="read",route="GET /api/devices",result="ok" ${T}000`,
    ],
  ])('%s (µs time = ts*1000 + seq mod 1000)', (_name, a, expected) => {
    expect(formatAudits([a], ctx).map((l) => l.text)).toEqual([expected]);
  });
});
