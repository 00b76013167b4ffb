/**
 * Table test over every golden case folder under test/cases/verify/ (folders starting with "_" hold
 * shared inputs). expected.json holds values computed by hand from the rules in verify/README.md; the result must contain
 * them (toMatchObject over keyed views: rulesById, devicesById, processesById, tracksById). A case
 * whose expected.json has "error" must fail with that code, and its details must name the fields.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../config/errors.js';
import { evaluate } from '../../verify/evaluate.js';
import { keyed, loadCase } from './case-harness.js';

const root = fileURLToPath(new URL('../cases/verify/', import.meta.url));
const names = readdirSync(root)
  .filter((n) => !n.startsWith('_') && statSync(join(root, n)).isDirectory())
  .sort();

describe('golden verifier cases', () => {
  it('has the cases the issue asks for', () => {
    expect(names.length).toBeGreaterThanOrEqual(12);
  });

  it.each(names)('%s', (name) => {
    const dir = join(root, name);
    let thrown: unknown;
    let result: Record<string, unknown> | undefined;
    const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, unknown>;
    try {
      const c = loadCase(dir, name);
      result = evaluate({
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
      }) as unknown as Record<string, unknown>;
    } catch (e) {
      thrown = e;
    }
    if (thrown && !exp.error) throw thrown;
    if (exp.error) {
      const e = exp.error as { code: string; details: string[] };
      expect(isGatewayError(thrown)).toBe(true);
      const ge = thrown as { code: string; details: string[] };
      expect(ge.code).toBe(e.code);
      for (const frag of e.details) expect(ge.details.join('\n')).toContain(frag);
      return;
    }
    const { notes: _notes, ...want } = exp;
    expect(keyed(result!)).toMatchObject(want);
  });
});
