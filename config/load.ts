/**
 * Loads a gateway config: YAML → ${ENV} / ${ENV:-default} interpolation → zod validation →
 * deep freeze (HOUSE convention 3: validate and compile once, then freeze). Errors name the path
 * and what was expected, one line per problem: `devices[2].tags[0].byteOrder: expected one of ...`.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ErrorCodes, GatewayError } from './errors.js';
import { gatewayConfigSchema, type GatewayConfig } from './schema.js';

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const PLACEHOLDER = /\u0000fgwenv(\d+)\u0000|__fgwenv(\d+)__/g;

/**
 * ${VAR} and ${VAR:-default} are resolved around the YAML parse, not by text substitution: each
 * reference is first swapped for an inert placeholder (so `{ password: ${PW:-secret} }` parses in a
 * flow mapping, where `{` and `}` would otherwise end it), then the placeholders in the parsed
 * strings are replaced by the values. A value can therefore never inject YAML structure. A scalar
 * that is exactly one reference takes the value's plain YAML type (`port: ${PORT:-5020}` is a
 * number). A missing ${VAR} without default is reported with its path.
 */
export function protectEnvRefs(text: string): { text: string; refs: Array<{ name: string; def?: string }> } {
  const refs: Array<{ name: string; def?: string }> = [];
  const out = text.replace(ENV_REF, (_m, name: string, def: string | undefined) => {
    refs.push({ name, def });
    return `__fgwenv${refs.length - 1}__`;
  });
  return { text: out, refs };
}

function plainScalar(v: string): unknown {
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v.trim())) return Number(v);
  if (v === 'true' || v === 'false') return v === 'true';
  return v;
}

export function interpolateEnv(node: unknown, env: NodeJS.ProcessEnv, problems: string[], path = '', refs?: Array<{ name: string; def?: string }>): unknown {
  if (typeof node === 'string') {
    const resolveRef = (name: string, def: string | undefined) => {
      // shell semantics: ${VAR:-default} uses the default when VAR is unset or empty
      const v = env[name];
      if (v !== undefined && (v !== '' || def === undefined)) return v;
      if (def !== undefined) return def;
      problems.push(`${path || '(root)'}: environment variable ${name} is not set and has no default (write \${${name}:-default} to give one)`);
      return '';
    };
    if (refs) {
      const whole = /^__fgwenv(\d+)__$/.exec(node);
      if (whole) {
        const r = refs[Number(whole[1])]!;
        return plainScalar(resolveRef(r.name, r.def));
      }
      return node.replace(PLACEHOLDER, (_m, a: string | undefined, b: string | undefined) => {
        const r = refs[Number(a ?? b)]!;
        return resolveRef(r.name, r.def);
      });
    }
    return node.replace(ENV_REF, (_m, name: string, def: string | undefined) => resolveRef(name, def));
  }
  if (Array.isArray(node)) return node.map((v, i) => interpolateEnv(v, env, problems, `${path}[${i}]`, refs));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = interpolateEnv(v, env, problems, path ? `${path}.${k}` : k, refs);
    return out;
  }
  return node;
}

/** `devices[2].tags[0].byteOrder` from a zod issue path. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s || '(root)';
}

/** One line per zod issue, naming the path and what was expected. Union issues are unfolded. */
export function formatIssues(issues: ReadonlyArray<z.core.$ZodIssue>, prefix: ReadonlyArray<PropertyKey> = []): string[] {
  const lines: string[] = [];
  for (const iss of issues) {
    const path = [...prefix, ...iss.path];
    if (iss.code === 'unrecognized_keys') {
      for (const k of iss.keys) lines.push(`${formatPath([...path, k])}: unknown key (check the spelling; see the config reference)`);
    } else if (iss.code === 'invalid_union' && iss.errors.length > 0 && iss.errors.every((e) => e.length > 0)) {
      // report the branch that got furthest (the one with the fewest problems)
      const best = [...iss.errors].sort((a, b) => a.length - b.length)[0]!;
      lines.push(...formatIssues(best, path));
    } else {
      lines.push(`${formatPath(path)}: ${iss.message}`);
    }
  }
  return [...new Set(lines)];
}

export interface LoadedConfig {
  config: GatewayConfig;
  /** absolute path of the file */
  path: string;
  /** non-fatal advice (e.g. an address that looks 1-based) */
  warnings: string[];
}

export function parseConfigText(text: string, opts: { env?: NodeJS.ProcessEnv; file?: string } = {}): GatewayConfig {
  const file = opts.file ?? '(config)';
  const protectedText = protectEnvRefs(text);
  const doc = parseDocument(protectedText.text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new GatewayError(ErrorCodes.CONFIG_READ, `${file}: not valid YAML`, {
      details: doc.errors.map((e) => `${file}: ${e.message.split('\n')[0]}`),
    });
  }
  const problems: string[] = [];
  const raw = interpolateEnv(doc.toJS(), opts.env ?? process.env, problems, '', protectedText.refs);
  if (problems.length > 0) throw new GatewayError(ErrorCodes.CONFIG_ENV, `${file}: ${problems.length} missing environment variable(s)`, { details: problems });
  const parsed = gatewayConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const details = formatIssues(parsed.error.issues);
    throw new GatewayError(ErrorCodes.CONFIG, `${file}: ${details.length} problem(s)`, { details });
  }
  return deepFreeze(parsed.data);
}

/** Reads, interpolates, validates and freezes a config file. storage.path is resolved against the file's directory. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new GatewayError(ErrorCodes.CONFIG_READ, `cannot read config file ${path}: ${(e as Error).message}`, { cause: e });
  }
  const parsed = parseConfigText(text, { env, file });
  const base = dirname(path);
  const config = deepFreeze({
    ...parsed,
    storage: { ...parsed.storage, path: isAbsolute(parsed.storage.path) ? parsed.storage.path : resolve(base, parsed.storage.path) },
    http: { ...parsed.http, projects: parsed.http.projects.map((p) => (isAbsolute(p) ? p : resolve(base, p))) },
  }) as GatewayConfig;
  return { config, path, warnings: configWarnings(config) };
}

import { adapterModule } from '../adapters/registry.js';

export function configWarnings(config: GatewayConfig): string[] {
  const out: string[] = [];
  config.devices.forEach((d, i) => {
    const m = adapterModule(d.protocol);
    if (m?.warnings) out.push(...m.warnings(d, `devices[${i}]`));
  });
  if (config.http.tokens.length === 0 && !isLoopbackListen(config.http.listen)) {
    out.push(`http.listen: ${config.http.listen} is not a loopback address and no tokens are configured; the API will bind 127.0.0.1 instead (add http.tokens to expose it)`);
  }
  return out;
}

export function isLoopbackListen(listen: string): boolean {
  const host = listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
