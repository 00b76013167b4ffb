/**
 * The Chinese evidence of the verdict rules (classify.ts), over every golden case: no English words
 * (identifiers from the data aside: device, gateway and system ids, and the ERP/MES acronyms), no
 * reason codes such as RATE_BELOW_FULL, every time of day with its zone, and 中断 only as 平台中断
 * (a stopped device is 停报, a gap 缺报). The money rules are the money module's and not checked here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { evaluate, type VerifyResult } from '../../verify/evaluate.js';
import { loadCase } from './case-harness.js';

const root = fileURLToPath(new URL('../cases/verify/', import.meta.url));
const names = readdirSync(root).filter(
  (n) => !n.startsWith('_') && statSync(join(root, n)).isDirectory() && !JSON.parse(readFileSync(join(root, n, 'expected.json'), 'utf8')).error,
);

function result(name: string): VerifyResult {
  const c = loadCase(join(root, name), name);
  return evaluate({
    project: c.project,
    projectFile: c.projectFile,
    policy: c.policy,
    devices: c.devices,
    registeredSystems: c.registeredSystems,
    facts: c.facts,
    ...(c.orders ? { orders: c.orders } : {}),
    preliminary: c.preliminary,
    source: 'case',
    ...(c.gateways ? { gateways: c.gateways } : {}),
  });
}

const MONEY = /^(contractor|money)\./;

describe.each(names)('evidenceZh of %s', (name) => {
  const r = result(name);
  const ids = new Set<string>([
    ...r.devices.map((d) => d.id),
    ...r.gateways.map((g) => g.id),
    ...r.dataUse.registeredSystems,
    ...Object.keys(r.dataUse.readsBySystem),
    'ERP',
    'MES',
  ]);
  const texts = [
    ...r.rules.filter((x) => !MONEY.test(x.rule)).map((x) => [x.rule, x.evidenceZh ?? ''] as const),
    ...r.processes.map((p) => [`process ${p.id}`, p.evidenceZh ?? ''] as const),
  ];

  it.each(texts)('%s', (_rule, text) => {
    expect(text).not.toBe('');
    expect(text).not.toMatch(/\b[A-Z]{2,}(_[A-Z]+)+\b/);
    // identifiers from the data are not words of the text; --preliminary is the command's option
    const words = text
      .replace(/[A-Za-z0-9][A-Za-z0-9_.-]*/g, (w) => (ids.has(w) || /^[\d.]+$/.test(w) ? '' : w))
      .replace(/--preliminary/g, '')
      .match(/[A-Za-z]{2,}/g);
    expect(words, text).toBeNull();
    for (const m of text.matchAll(/\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?![:\d])(?! \+08:00)/g))
      expect.fail(`time without zone in: ${text} (at ${m.index})`);
    expect(text.replaceAll('平台中断', '')).not.toContain('中断');
  });
});
