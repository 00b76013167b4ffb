/**
 * Property-based fuzzing of the config loader (fast-check). Thousands of configs per run: the
 * canonical config/gateway.yaml mutated line by line (lines deleted, duplicated, re-indented, values
 * replaced by hostile ones: references, aliases, placeholders, absurd numbers and durations, YAML
 * punctuation) and free-form YAML-ish text. Property: the loader returns a config or throws a coded
 * config error (GW_ERR_CONFIG*) whose every line names a path or a line of the file; nothing else
 * (no TypeError, no RangeError, no hang). The seed is fixed (FGW_FUZZ_SEED overrides it); on failure
 * fast-check prints the seed, the path and the shrunk counterexample to replay it.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../gateway/config.js';

const SEED = Number(process.env.FGW_FUZZ_SEED ?? 20261203);
const CANONICAL = readFileSync(new URL('../../config/gateway.yaml', import.meta.url), 'utf8').split('\n');

const HOSTILE = [
  '',
  '~',
  'null',
  '-1',
  '0',
  '1e999',
  '-1e999',
  '99999999999999999999',
  '1.5',
  'NaN',
  '.inf',
  '30d',
  '3000000000',
  '25d',
  '0ms',
  '"127.0.0.1:99999"',
  '127.0.0.1:0',
  '${X}',
  '${UNSET_VAR_FOR_FUZZ}',
  '${X:-${Y}}',
  '${X:-${Y:-z}}',
  '${X:-}}',
  '"__fgwenv0__"',
  '__fgwenv_0__',
  '*nope',
  '&a [*a]',
  '[',
  '{',
  '}',
  ']',
  '"',
  "'",
  ':',
  '- -',
  '? x',
  '!!binary AAAA',
  '!!js/function "x"',
  '<<: *nope',
  'true',
  'yes',
  '[1, 2, 3]',
  '{ a: 1 }',
  '冲压机',
  '\\u0000',
  'a'.repeat(300),
];

type Mutation = { kind: 'delete' | 'duplicate' | 'indent' | 'value' | 'insert'; line: number; text: string; spaces: number };

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('delete', 'duplicate', 'indent', 'value', 'value', 'insert'),
  line: fc.nat({ max: CANONICAL.length - 1 }),
  text: fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 12 })),
  spaces: fc.integer({ min: -4, max: 4 }),
});

function mutate(lines: readonly string[], ms: readonly Mutation[]): string {
  const out = [...lines];
  for (const m of ms) {
    const i = m.line % Math.max(1, out.length);
    const l = out[i] ?? '';
    switch (m.kind) {
      case 'delete':
        out.splice(i, 1);
        break;
      case 'duplicate':
        out.splice(i, 0, l);
        break;
      case 'indent':
        out[i] = m.spaces >= 0 ? ' '.repeat(m.spaces) + l : l.replace(new RegExp(`^ {0,${-m.spaces}}`), '');
        break;
      case 'value': {
        // the value after the first "key:" on the line (block or flow style)
        const at = l.search(/:\s/);
        out[i] = at < 0 ? `${l} ${m.text}` : `${l.slice(0, at + 2)}${m.text}${l.slice(at + 2).replace(/^[^,}\]]*/, '')}`;
        break;
      }
      case 'insert':
        out.splice(i, 0, `${' '.repeat(Math.max(0, m.spaces))}${m.text}`);
        break;
    }
  }
  return out.join('\n');
}

const ENV = fc.dictionary(
  fc.constantFrom('X', 'Y', 'INFLUX_USER', 'INFLUX_PASSWORD', 'MES_TOKEN', 'OPERATOR_TOKEN', 'LATHE_PASSWORD'),
  fc.oneof(fc.constantFrom('', '1', '30d', 'a\nb: c', '${Y}', '__fgwenv0__'), fc.string({ maxLength: 10 })),
);

/** The property: a config, or a coded config error naming a path or a line on every line. */
function loadsOrSaysWhere(text: string, env: Record<string, string>): void {
  let err: unknown;
  try {
    parseConfigText(text, { env, file: 'fuzz.yaml' });
    return;
  } catch (e) {
    err = e;
  }
  const g = err as { name?: string; code?: string; message?: string; details?: readonly string[] };
  if (g.name !== 'GatewayError' || !['GW_ERR_CONFIG', 'GW_ERR_CONFIG_READ', 'GW_ERR_CONFIG_ENV'].includes(g.code ?? '')) {
    throw new Error(`not a coded config error: ${String((err as Error)?.stack ?? err)}`);
  }
  const lines = g.details && g.details.length > 0 ? g.details : [g.message ?? ''];
  for (const l of lines) {
    // "devices[2].tags[0].byteOrder: ...", "(root): ...", "fuzz.yaml: ... at line 3, column 5", "fuzz.yaml: line 3: ..."
    const seg = String.raw`(\[(\d+|"(?:[^"\\]|\\.)*")\])`;
    const names = new RegExp(String.raw`^(\(root\)|([A-Za-z_$][\w$-]*|${seg})(\.[A-Za-z_$][\w$-]*|${seg})*): `).test(l) || /\bline \d+\b/.test(l);
    if (!names) throw new Error(`${g.code} without a path or line: ${JSON.stringify(l)}`);
  }
}

describe('config loader fuzz (fast-check)', () => {
  // each case validates the whole canonical config (~5 ms alone, several times that on a busy
  // machine): 1,000 cases, with room under load
  it('the canonical config with 1-6 random mutations: a config or a coded error naming where (1,000 cases)', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), ENV, (ms, env) => loadsOrSaysWhere(mutate(CANONICAL, ms), env)),
      { seed: SEED, numRuns: 1000 },
    );
  }, 240_000);

  it('free-form YAML-ish text: a config or a coded error naming where (3,000 cases)', () => {
    const token = fc.oneof(
      fc.constantFrom(...HOSTILE, 'gateway:', 'storage:', 'devices:', '  - ', '    ', '\n', 'id: g', ': ', ', ', '&a ', '*a '),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), ENV, (parts, env) =>
        loadsOrSaysWhere(`gateway: { id: fz }\nstorage: { path: ./d }\n${parts.join('')}`, env),
      ),
      { seed: SEED + 1, numRuns: 3000 },
    );
  }, 120_000);

  it('the canonical config itself loads (the property is not vacuous)', () => {
    expect(() =>
      parseConfigText(CANONICAL.join('\n'), {
        env: { MES_TOKEN: 'mes-token-123456', OPERATOR_TOKEN: 'operator-token-123456', LATHE_PASSWORD: 'x' },
        file: 'gateway.yaml',
      }),
    ).not.toThrow();
  });
});
