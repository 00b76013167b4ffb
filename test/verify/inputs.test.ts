/**
 * Input handling, table-driven: the RFC 4180 reader and the order matcher, the project schema's
 * strictness and error paths, the policy file's strictness and hash.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../config/errors.js';
import { matchOrders, parseCsv, readOrders } from '../../verify/orders.js';
import { loadPolicy, parsePolicyText } from '../../verify/policy.js';
import { parseProjectText } from '../../verify/project.js';
import { parseWindowTime } from '../../verify/cli.js';
import { registeredConsumerSystems } from '../../verify/evaluate.js';

const policyFile = fileURLToPath(new URL('../../config/policy/yongkang-2019.yaml', import.meta.url));
const canonical = readFileSync(fileURLToPath(new URL('../../config/project.yaml', import.meta.url)), 'utf8');

describe('CSV (RFC 4180)', () => {
  it.each([
    ['a,b\n1,2\n', [['a', 'b'], ['1', '2']]],
    ['a,b\r\n1,2\r\n', [['a', 'b'], ['1', '2']]],
    ['a,b\n1,2', [['a', 'b'], ['1', '2']]],
    ['a\n"x,y"\n', [['a'], ['x,y']]],
    ['a\n"say ""hi"""\n', [['a'], ['say "hi"']]],
    ['a,b\n"two\nlines",2\n', [['a', 'b'], ['two\nlines', '2']]],
    ['\ufeffa,b\n,\n', [['a', 'b'], ['', '']]],
    ['a,b\n\n1,2\n', [['a', 'b'], ['1', '2']]],
  ])('%j', (text, rows) => {
    expect(parseCsv(text).rows.map((r) => r.fields)).toEqual(rows);
  });
  it('reports an unterminated quote with its line', () => {
    expect(parseCsv('a\n1\n"open\n').error).toEqual({ line: 3, message: 'unterminated quoted field' });
  });
  it('lists bad rows with file and line, keeps the good ones', () => {
    const r = readOrders('order,item,quantity\nP1,X,5\nP2,,3\nP3,Y,2.5\nP4,Z\nP1,X,5\n"P5",W,7\n', 'erp.csv');
    expect(r.rows.map((x) => x.order)).toEqual(['P1', 'P5']);
    expect(r.bad).toEqual([
      { file: 'erp.csv', line: 3, reason: 'empty item' },
      { file: 'erp.csv', line: 4, reason: 'quantity "2.5" is not a whole number' },
      { file: 'erp.csv', line: 5, reason: 'expected 3 fields, got 2' },
      { file: 'erp.csv', line: 6, reason: 'duplicate order P1 (first on line 2)' },
    ]);
  });
  it('a header without the needed columns is one bad row, not a crash', () => {
    expect(readOrders('id,qty\n1,2\n', 'mes.csv').bad).toEqual([{ file: 'mes.csv', line: 1, reason: 'header lacks column(s) order, item, quantity' }]);
  });
  it('matches the shipped exports: ERP→MES 2/4, MES→ERP 2/3', () => {
    const dir = new URL('../../config/', import.meta.url);
    const m = matchOrders(readFileSync(new URL('erp-orders.csv', dir), 'utf8'), 'erp', readFileSync(new URL('mes-orders.csv', dir), 'utf8'), 'mes');
    expect({ e: m.erpMatched, er: m.erpRows, m: m.mesMatched, mr: m.mesRows }).toEqual({ e: 2, er: 4, m: 2, mr: 3 });
    expect(m.unmatched).toEqual([
      { side: 'erp', order: 'PO26100003', line: 4, reason: 'quantity' },
      { side: 'erp', order: 'PO26100004', line: 5, reason: 'missing' },
      { side: 'mes', order: 'PO26100003', line: 4, reason: 'quantity' },
    ]);
  });
});

describe('project file', () => {
  it('accepts the canonical example exactly as written', () => {
    const p = parseProjectText(canonical, 'project.yaml');
    expect(p.invoices).toHaveLength(6);
    expect(p.equipment.find((e) => e.id === 'scale-06')?.exempt).toBe('legacy scale, no interface; replaced 2027');
  });
  it.each([
    ['unknown key', canonical.replace('claim: partial ', 'claim: partial\n  claimed: yes '), 'project.yaml: project.claimed: unknown key'],
    ['malformed amount', canonical.replace('"760000.00"', '"760,000.00"'), 'invoices[0] (33002026000012).amount'],
    ['amount as a number', canonical.replace('amount: "96000.00"', 'amount: 96000.00'), 'invoices[1] (33002026000013).amount'],
    ['malformed equipment id', canonical.replace('{ id: lathe-03,', '{ id: "lathe 03",'), 'equipment[2] (lathe 03).id'],
    ['unknown process', canonical.replace('process: welding, category', 'process: weld, category'), 'equipment[1] (welder-02).process: unknown process "weld"'],
    ['bad date', canonical.replace('date: 2026-04-02, category: hardware', 'date: 2026-02-30, category: hardware'), 'invoices[2] (33002026000101).date'],
    ['period reversed', canonical.replace('period: { from: 2026-03-01, to: 2026-10-31 }', 'period: { from: 2026-11-01, to: 2026-10-31 }'), 'project.period.from'],
    ['unknown category', canonical.replace('category: inspection', 'category: testing'), 'equipment[5] (scale-06).category'],
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
  it('holds the RULES.md parameters', () => {
    const v = loadPolicy('yongkang-2019').values;
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
    [[{ system: 'MES' }, { system: 'platform' }, { system: 'MES' }], ['MES', 'platform']],
    [[{ system: 'MES' }, { system: 'dashboard' }, { system: 'Dashboard' }], ['MES']],
    [[{ system: 'anonymous' }], []],
    [[], []],
  ])('%j → %j', (tokens, want) => expect(registeredConsumerSystems(tokens)).toEqual(want));
});
