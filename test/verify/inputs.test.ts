/**
 * Input handling, table-driven: the RFC 4180 reader and the order matcher, the project schema's
 * strictness and error paths (invoice amounts, red-letter lines, devices, shutdowns), the policy
 * file's strictness, `keys` table, validity, cap check and hash, and the README's key table.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../config/errors.js';
import { matchOrders, parseCsv, readOrders } from '../../verify/orders.js';
import { loadPolicy, parsePolicyText } from '../../verify/policy.js';
import { parseProjectText } from '../../verify/project.js';
import { parseWindowTime } from '../../verify/run.js';
import { registeredConsumerSystems, registeredSystemsOf } from '../../verify/evaluate.js';

const policyFile = fileURLToPath(new URL('../../config/policy/yongkang-2019.yaml', import.meta.url));
const canonical = readFileSync(fileURLToPath(new URL('../../config/project.yaml', import.meta.url)), 'utf8');

describe('CSV (RFC 4180)', () => {
  it.each([
    [
      'a,b\n1,2\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'a,b\r\n1,2\r\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'a,b\n1,2',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    ['a\n"x,y"\n', [['a'], ['x,y']]],
    ['a\n"say ""hi"""\n', [['a'], ['say "hi"']]],
    [
      'a,b\n"two\nlines",2\n',
      [
        ['a', 'b'],
        ['two\nlines', '2'],
      ],
    ],
    [
      '\ufeffa,b\n,\n',
      [
        ['a', 'b'],
        ['', ''],
      ],
    ],
    [
      'a,b\n\n1,2\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
  ])('%j', (text, rows) => {
    expect(parseCsv(text).rows.map((r) => r.fields)).toEqual(rows);
  });
  it('reports an unterminated quote with its line', () => {
    expect(parseCsv('a\n1\n"open\n').error).toEqual({ line: 3, message: 'unterminated quoted field' });
  });
  // October 2026 in +08:00
  const scope = { from: Date.parse('2026-10-01T00:00:00+08:00'), to: Date.parse('2026-11-01T00:00:00+08:00'), offsetMs: 8 * 3_600_000 };
  it('lists bad rows with file and line (in the denominator), keeps the good ones, counts the rest out', () => {
    const r = readOrders(
      'order,item,quantity,released\nP1,X,5,2026-10-02\nP2,,3,2026-10-02\nP3,Y,2.5,2026-10-02\nP4,Z\nP1,X,5,2026-10-03\n"P5",W,7,2026-10-31 23:59\nP1,V,1,2026-10-02\nP6,U,1,2026-09-30T23:59:59+08:00\nP7,T,1,\nP8,S,1,soon\n',
      'erp.csv',
      scope,
    );
    expect(r.rows.map((x) => `${x.order}/${x.item}`)).toEqual(['P1/X', 'P5/W', 'P1/V']); // P1 with a second item is its own row
    expect(r.bad).toEqual([
      { file: 'erp.csv', line: 3, reason: 'empty item', order: 'P2' },
      { file: 'erp.csv', line: 4, reason: 'quantity "2.5" is not a whole number', order: 'P3', item: 'Y' },
      { file: 'erp.csv', line: 5, reason: 'expected 4 fields, got 2' },
      { file: 'erp.csv', line: 6, reason: 'duplicate order P1 item X (first on line 2)', order: 'P1', item: 'X' },
      { file: 'erp.csv', line: 11, reason: 'released "soon" is not a time', order: 'P8', item: 'S' },
    ]);
    expect([r.outside, r.notReleased]).toEqual([1, 1]); // P6 released the second before the window; P7 not released
  });
  it('a header without the needed columns makes every row a bad row, not a crash', () => {
    expect(readOrders('id,qty\n1,2\n3,4\n', 'mes.csv', scope).bad).toEqual([
      { file: 'mes.csv', line: 2, reason: 'the header (line 1) lacks column(s) order, item, quantity, released (or dispatched)' },
      { file: 'mes.csv', line: 3, reason: 'the header (line 1) lacks column(s) order, item, quantity, released (or dispatched)' },
    ]);
  });
  it('matches the shipped exports: ERP→MES 2/4, MES→ERP 2/3', () => {
    const dir = new URL('../../config/', import.meta.url);
    const m = matchOrders(readFileSync(new URL('erp-orders.csv', dir), 'utf8'), 'erp', readFileSync(new URL('mes-orders.csv', dir), 'utf8'), 'mes', scope);
    expect({ e: m.erpMatched, er: m.erpRows, m: m.mesMatched, mr: m.mesRows }).toEqual({ e: 2, er: 4, m: 2, mr: 3 });
    expect(m.unmatched).toEqual([
      { side: 'erp', order: 'PO26100003', item: 'CUP-350ML-RED', line: 4, reason: 'quantity', quantity: 1500, otherQuantity: 1450, otherLine: 4 },
      { side: 'erp', order: 'PO26100004', item: 'CUP-750ML-BLK', line: 5, reason: 'missing' },
      { side: 'mes', order: 'PO26100003', item: 'CUP-350ML-RED', line: 4, reason: 'quantity', quantity: 1450, otherQuantity: 1500, otherLine: 4 },
    ]);
  });
  it('counts only orders released in the window: the shipped exports in September match nothing', () => {
    const sept = { from: Date.parse('2026-09-01T00:00:00+08:00'), to: Date.parse('2026-10-01T00:00:00+08:00'), offsetMs: 8 * 3_600_000 };
    const dir = new URL('../../config/', import.meta.url);
    const m = matchOrders(readFileSync(new URL('erp-orders.csv', dir), 'utf8'), 'erp', readFileSync(new URL('mes-orders.csv', dir), 'utf8'), 'mes', sept);
    expect([m.erpRows, m.mesRows, m.erpOutside, m.mesOutside, m.erpToMes]).toEqual([0, 0, 4, 3, null]);
  });
});

describe('project file', () => {
  it('accepts the canonical example exactly as written', () => {
    const p = parseProjectText(canonical, 'project.yaml');
    expect(p.invoices).toHaveLength(6);
    expect(p.equipment.find((e) => e.id === 'scale-06')?.exempt).toBe('legacy scale, no interface; replaced 2027');
    // same meaning: contractor: true is the general contractor; quantity as written; no first cloud date
    expect(p.invoices[3]).toMatchObject({ contractor: true, listPrice: '840000.00', quantity: 1, service: false });
    expect(p.invoices[1]!.quantity).toBe(4);
    expect(p.project.firstCloudDate).toBeUndefined();
  });
  it('accepts the new keys: firstCloudDate, code, a 20-digit number, a named contractor, service, red-letter lines', () => {
    const p = parseProjectText(
      canonical
        .replace('firstCloudContract: true ', 'firstCloudContract: true\n  firstCloudDate: 2026-05-20 ')
        .replace('{ number: "33002026000013",', '{ code: "3300261130", number: "33002026000013",')
        .replace('contractor: true }', 'contractor: 永康智造, service: true }')
        .replace(
          /(invoices:.*\n)/,
          '$1  - { number: "26332000000012345678", date: 2026-06-01, category: equipment, item: 送料机退一台, quantity: 1, amount: "-24000.00", vat: "-3120.00", corrects: "33002026000013" }\n',
        ),
      'project.yaml',
    );
    expect(p.project.firstCloudDate).toBe('2026-05-20');
    expect(p.invoices[0]).toMatchObject({ amount: '-24000.00', corrects: '33002026000013', quantity: 1 });
    expect(p.invoices[2]!.code).toBe('3300261130');
    expect(p.invoices[4]).toMatchObject({ contractor: '永康智造', service: true });
  });
  it.each([
    ['unknown key', canonical.replace('claim: partial ', 'claim: partial\n  claimed: yes '), 'project.yaml: project.claimed: unknown key'],
    ['malformed amount', canonical.replace('"760000.00"', '"760,000.00"'), 'invoices[0] (33002026000012).amount'],
    ['amount as a number', canonical.replace('amount: "96000.00"', 'amount: 96000.00'), 'invoices[1] (33002026000013).amount'],
    ['malformed equipment id', canonical.replace('{ id: lathe-03,', '{ id: "lathe 03",'), 'equipment[2] (lathe 03).id'],
    ['unknown process', canonical.replace('process: welding, category', 'process: weld, category'), 'equipment[1] (welder-02).process: unknown process "weld"'],
    ['bad date', canonical.replace('date: 2026-04-02, category: hardware', 'date: 2026-02-30, category: hardware'), 'invoices[2] (33002026000101).date'],
    [
      'period reversed',
      canonical.replace('period: { from: 2026-03-01, to: 2026-10-31 }', 'period: { from: 2026-11-01, to: 2026-10-31 }'),
      'project.period.from',
    ],
    ['unknown category', canonical.replace('category: inspection', 'category: testing'), 'equipment[5] (scale-06).category'],
    ['zero amount', canonical.replace('amount: "96000.00"', 'amount: "0.00"'), 'invoices[1] (33002026000013).amount: zero amount'],
    [
      'negative amount without corrects',
      canonical.replace('amount: "96000.00"', 'amount: "-96000.00"'),
      'invoices[1] (33002026000013).amount: negative amount -96000.00: a red-letter line names the invoice it corrects',
    ],
    [
      'red-letter for an unknown invoice',
      canonical.replace('amount: "96000.00", vat: "12480.00" }', 'amount: "-96000.00", corrects: "1234" }'),
      'invoices[1] (33002026000013).corrects: no invoice line 1234 to correct',
    ],
    [
      'red-letter of another category',
      canonical.replace('amount: "96000.00", vat: "12480.00" }', 'amount: "-96000.00", corrects: "33002026000101" }'),
      'invoices[1] (33002026000013).category: equipment, but the line it corrects (invoices[2]) is hardware',
    ],
    [
      'invoice code of 8 digits',
      canonical.replace('{ number: "33002026000013",', '{ code: "33002610", number: "33002026000013",'),
      'invoices[1] (33002026000013).code: expected the invoice code',
    ],
    [
      'device not in the register',
      canonical.replace('devices: [press-01]', 'devices: [press-09]'),
      'invoices[0] (33002026000012).devices[0]: unknown equipment "press-09" (not in the equipment register)',
    ],
    [
      'bad first cloud date',
      canonical.replace('firstCloudContract: true ', 'firstCloudContract: true\n  firstCloudDate: 2026-13-01 '),
      'project.firstCloudDate: expected a date',
    ],
  ])('%s → GW_ERR_VERIFY_INPUT naming %s', (_name, text, fragment) => {
    let err: unknown;
    try {
      parseProjectText(text, 'project.yaml');
    } catch (e) {
      err = e;
    }
    expect(isGatewayError(err, 'GW_ERR_VERIFY_INPUT')).toBe(true);
    expect((err as { details: string[] }).details.join('\n')).toContain(fragment);
  });
});

describe('policy file', () => {
  it('its hash is the sha256 of the file as written', () => {
    const expected = execFileSync('sha256sum', [policyFile]).toString().split(' ')[0];
    expect(loadPolicy('yongkang-2019').sha256).toBe(expected);
  });
  it('holds the parameters of verify/README.md', () => {
    const v = loadPolicy('yongkang-2019').values;
    expect(v.valid).toEqual({ from: '2019-01-01', to: null });
    expect(v.money.excludeUnnetworkedEquipment).toBe(false);
    expect(v.measure.slotMin).toBe(60_000);
    expect(v.measure.minWindow).toBe(30 * 86_400_000);
    expect(v.classification.partial.rMin).toEqual({ num: 9n, den: 10n });
    expect(v.classification.full.rMin).toEqual({ num: 19n, den: 20n });
    expect(v.money.tracks['B-pilot'].excessRates.equipment).toBeNull();
    expect(v.money.tracks['C-cloud'].minFirstYear).toBe(1_000_000n);
  });
  it.each([
    ['an unknown key', (t: string) => t.replace('slotMin: 60s', 'slotMin: 60s\n  slotMax: 1h'), 'measure: Unrecognized key'],
    ['a rate that is not a decimal', (t: string) => t.replace('rMin: "0.90"', 'rMin: "90%"'), 'classification.partial.rMin'],
    ['an amount without decimals', (t: string) => t.replace('cap: "300000.00"', 'cap: "300000"'), 'money.tracks.C-cloud.cap'],
  ])('rejects %s with GW_ERR_POLICY', (_n, edit, fragment) => {
    let err: unknown;
    try {
      parsePolicyText(edit(readFileSync(policyFile, 'utf8')), 'p.yaml');
    } catch (e) {
      err = e;
    }
    expect(isGatewayError(err, 'GW_ERR_POLICY')).toBe(true);
    expect((err as { details: string[] }).details.join('\n')).toContain(fragment);
  });
  it.each([
    ['a value without a keys entry', (t: string) => t.replace(/  measure\.staleMin:\n(    .*\n)+/, ''), 'keys: no entry for measure.staleMin'],
    [
      'a keys entry without a value',
      (t: string) => t.replace('keys:\n', 'keys:\n  measure.slotMax: { source: default, zh: 最大时隙, en: Largest slot }\n'),
      'keys.measure.slotMax: no such policy value',
    ],
    [
      'a text source without its clause',
      (t: string) => t.replace('    source: text\n    clause: 最高补助5000万元\n', '    source: text\n'),
      'keys.money.tracks.A-full.cap.clause: required when source is text',
    ],
    ['a source that is neither', (t: string) => t.replace('  timezone:\n    source: default', '  timezone:\n    source: guess'), 'keys.timezone.source'],
    [
      'a cap that is not rate × first investment',
      (t: string) => t.replace('cap: "3000000.00"', 'cap: "3100000.00"'),
      'money.tracks.B-pilot.cap: 3100000.00 is not rate 0.5 × firstInvestment 6000000.00 = 3000000',
    ],
    [
      'a validity that ends before it starts',
      (t: string) => t.replace('valid: { from: 2019-01-01, to: null }', 'valid: { from: 2019-01-01, to: 2018-12-31 }'),
      'valid.from: from is after to',
    ],
    [
      'the removed firstYearDays',
      (t: string) => t.replace('cap: "300000.00"', 'cap: "300000.00"\n      firstYearDays: 365'),
      'money.tracks.C-cloud: Unrecognized key',
    ],
  ])('rejects %s with GW_ERR_POLICY naming it', (_n, edit, fragment) => {
    const text = readFileSync(policyFile, 'utf8');
    expect(edit(text)).not.toBe(text);
    let err: unknown;
    try {
      parsePolicyText(edit(text), 'p.yaml');
    } catch (e) {
      err = e;
    }
    expect(isGatewayError(err, 'GW_ERR_POLICY')).toBe(true);
    expect((err as { details: string[] }).details.join('\n')).toContain(fragment);
  });
  it('the policy table has every value once, with its source, meaning and how to print it', () => {
    const p = loadPolicy('yongkang-2019');
    expect(p.table.map((k) => k.key)).toEqual(Object.keys(p.values.keys));
    expect(p.table.find((k) => k.key === 'money.tracks.C-cloud.cap')).toEqual({
      key: 'money.tracks.C-cloud.cap',
      value: '300000.00',
      kind: 'money',
      source: 'text',
      clause: '单个企业最高奖励30万元',
      zh: 'C 类企业上云：每家企业奖励上限',
      en: 'C, cloud: cap per enterprise',
    });
    expect(p.table.find((k) => k.key === 'measure.staleMin')).toMatchObject({ value: '15m', kind: 'duration', ms: 900_000, source: 'default' });
    expect(p.table.find((k) => k.key === 'classification.partial.rMin')).toMatchObject({ value: '0.90', kind: 'rate' });
    expect(p.table.find((k) => k.key === 'money.tracks.B-pilot.excessRates.equipment')).toMatchObject({ value: null, kind: 'unset', source: 'text' });
  });
  it('verify/README.md names every policy key (the authoritative rule text)', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../verify/README.md', import.meta.url)), 'utf8');
    const missing = Object.keys(loadPolicy('yongkang-2019').values.keys).filter((k) => !readme.includes(`\`${k}\``));
    expect(missing).toEqual([]);
  });
  it('an unknown shipped name is GW_ERR_POLICY', () => {
    expect(() => loadPolicy('yongkang-2099')).toThrow(expect.objectContaining({ code: 'GW_ERR_POLICY' }));
  });
});

describe('window times', () => {
  it.each([
    ['2026-10-05', Date.parse('2026-10-04T16:00:00Z')], // local midnight, +08:00
    ['2026-10-05T08:00:00+08:00', Date.parse('2026-10-05T00:00:00Z')],
    ['2026-10-05T08:00', Date.parse('2026-10-05T00:00:00Z')], // no offset: the policy's
    ['1791129600000', 1791129600000],
  ])('%s', (text, ms) => expect(parseWindowTime(text, 8 * 3_600_000, '--from')).toBe(ms));
  it('rejects what is not a time, naming the option', () => {
    expect(() => parseWindowTime('last tuesday', 0, '--from')).toThrow(/--from/);
    expect(() => parseWindowTime('-10 minutes', 0, '--from')).toThrow(/--from/);
  });
  it('takes times relative to now ("-10m", as the demo prints)', () => {
    const before = Date.now();
    const t = parseWindowTime('-10m', 8 * 3_600_000, '--from');
    const after = Date.now();
    expect(t).toBeGreaterThanOrEqual(before - 600_000);
    expect(t).toBeLessThanOrEqual(after - 600_000);
  });
});

describe('registered consumer systems', () => {
  it.each([
    [
      [{ system: 'MES' }, { system: 'platform' }, { system: 'MES' }],
      ['MES', 'platform'],
    ],
    [[{ system: 'MES' }, { system: 'dashboard' }, { system: 'Dashboard' }], ['MES']],
    [[{ system: 'anonymous' }], []],
    [[], []],
  ])('%j → %j', (tokens, want) => expect(registeredConsumerSystems(tokens)).toEqual(want));
  it("a northbound target's system is registered like a token's", () => {
    expect(registeredSystemsOf({ http: { tokens: [{ system: 'MES' }] }, north: [{ system: 'platform' }, { system: 'MES' }] })).toEqual(['MES', 'platform']);
    expect(registeredSystemsOf({ north: [{ system: 'platform' }] })).toEqual(['platform']);
    expect(registeredSystemsOf({})).toEqual([]);
  });
});
