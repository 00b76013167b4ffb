/**
 * The loader of any YAML config file, given the schema it validates against (the gateway's is
 * composed in gateway/schema.ts, the hub's in gateway/hub/schema.ts): YAML → ${ENV} /
 * ${ENV:-default} interpolation → zod validation → deep freeze (validate and compile once, then
 * freeze). Errors name the path and what was expected, one line per problem:
 * `devices[2].tags[0].byteOrder: expected one of ...`.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { LineCounter, isAlias, isMap, isNode, isPair, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { deepFreeze } from './common.js';
import { ErrorCodes, GatewayError, errorText } from './errors.js';

/** One environment reference: its name and, for ${NAME:-default}, the default's text (which may hold references). */
export interface EnvRef {
  name: string;
  def?: string;
}

/** The text with its references swapped for placeholders, and what to swap back. */
export interface ProtectedText {
  text: string;
  refs: EnvRef[];
  /** matches one placeholder; group 1 is the index in `refs` */
  placeholder: RegExp;
  /** matches a scalar that is exactly one placeholder */
  whole: RegExp;
}

const REF_HEAD = /\$\{([A-Za-z_][A-Za-z0-9_]*)(:-)?/y;

/**
 * The well-formed ${NAME} or ${NAME:-default} starting at `at`, with where it ends; undefined when
 * the text there is not one (it then stays literal). A default may hold references itself
 * (`${A:-${B:-x}}`: the braces are balanced); a reference never spans lines.
 */
function refAt(text: string, at: number): (EnvRef & { end: number }) | undefined {
  REF_HEAD.lastIndex = at;
  const m = REF_HEAD.exec(text);
  if (!m) return undefined;
  let i = at + m[0].length;
  if (!m[2]) return text[i] === '}' ? { name: m[1]!, end: i + 1 } : undefined;
  let depth = 0;
  for (const defStart = i; i < text.length; i++) {
    const c = text[i];
    if (c === '\n' || c === '\r') return undefined;
    if (c === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (c === '}') {
      if (depth === 0) return { name: m[1]!, def: text.slice(defStart, i), end: i + 1 };
      depth--;
    }
  }
  return undefined;
}

/** Replaces every well-formed reference in `text` by what `f` makes of it. */
function replaceRefs(text: string, f: (ref: EnvRef) => string): string {
  let out = '';
  let last = 0;
  for (let i = text.indexOf('${'); i >= 0;) {
    const r = refAt(text, i);
    if (!r) {
      i = text.indexOf('${', i + 2);
      continue;
    }
    out += text.slice(last, i) + f(r);
    last = i = r.end;
    i = text.indexOf('${', i);
  }
  return out + text.slice(last);
}

/**
 * ${VAR} and ${VAR:-default} are resolved around the YAML parse, not by text substitution: each
 * reference is first swapped for an inert placeholder (so `{ password: ${PW:-secret} }` parses in a
 * flow mapping, where `{` and `}` would otherwise end it), then the placeholders in the parsed
 * strings are replaced by the values. A value can therefore never inject YAML structure. The
 * placeholders carry a random token drawn for this parse, so text that merely looks like one
 * (`site: "__fgwenv0__"`) stays literal and can never take a reference's value. A scalar that is
 * exactly one reference takes the value's plain YAML type (`port: ${PORT:-5020}` is a number).
 * A missing ${VAR} without default is reported with its path.
 */
export function protectEnvRefs(text: string): ProtectedText {
  let token: string;
  do token = randomBytes(6).toString('hex');
  while (text.includes(token));
  const refs: EnvRef[] = [];
  const out = replaceRefs(text, (r) => {
    refs.push(r.def === undefined ? { name: r.name } : { name: r.name, def: r.def });
    return `__fgwenv_${token}_${refs.length - 1}__`;
  });
  return { text: out, refs, placeholder: new RegExp(`__fgwenv_${token}_(\\d+)__`, 'g'), whole: new RegExp(`^__fgwenv_${token}_(\\d+)__$`) };
}

function plainScalar(v: string): unknown {
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v.trim())) return Number(v);
  if (v === 'true' || v === 'false') return v === 'true';
  return v;
}

/**
 * Resolves references in a parsed document: the placeholders of `prot` (protectEnvRefs), or, without
 * it, references written directly in the strings. Keys are resolved like values.
 */
export function interpolateEnv(node: unknown, env: NodeJS.ProcessEnv, problems: string[], path = '', prot?: ProtectedText): unknown {
  // shell semantics: ${VAR:-default} uses the default when VAR is unset or empty; a default's own
  // references are resolved the same way
  const resolveRef = (r: EnvRef): string => {
    const v = env[r.name];
    if (v !== undefined && (v !== '' || r.def === undefined)) return v;
    if (r.def !== undefined) return replaceRefs(r.def, resolveRef);
    problems.push(`${path || '(root)'}: environment variable ${r.name} is not set and has no default (write \${${r.name}:-default} to give one)`);
    return '';
  };
  const text = (s: string): string => (prot ? s.replace(prot.placeholder, (_m, i: string) => resolveRef(prot.refs[Number(i)]!)) : replaceRefs(s, resolveRef));
  if (typeof node === 'string') {
    const whole = prot?.whole.exec(node);
    if (whole) return plainScalar(resolveRef(prot!.refs[Number(whole[1])]!));
    return text(node);
  }
  if (Array.isArray(node)) return node.map((v, i) => interpolateEnv(v, env, problems, `${path}[${i}]`, prot));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k0, v] of Object.entries(node)) {
      const k = text(k0);
      out[k] = interpolateEnv(v, env, problems, keyPath(path, k), prot);
    }
    return out;
  }
  return node;
}

/** `devices[2].tags[0].byteOrder` from a zod issue path. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let s = '';
  for (const p of path) s = typeof p === 'number' ? `${s}[${p}]` : keyPath(s, String(p));
  return s || '(root)';
}

/** `parent.key`, or `parent["key"]` for a key that is no plain name (empty, spaces, a leading "-", a newline). */
function keyPath(parent: string, key: string): string {
  if (!/^[A-Za-z_$][\w$-]*$/.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent ? `${parent}.${key}` : key;
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

/**
 * The loader's rules for any YAML config file (the gateway config, the hub config): YAML with
 * duplicate keys refused, ${ENV} interpolation, validation by `schema` with one line per problem
 * naming its path, then a deep freeze.
 */
export function parseYamlConfig<S extends z.ZodType>(text: string, schema: S, opts: { env?: NodeJS.ProcessEnv; file?: string } = {}): z.output<S> {
  const file = opts.file ?? '(config)';
  const protectedText = protectEnvRefs(text);
  const problems: string[] = [];
  let raw: unknown;
  try {
    const lines = new LineCounter();
    const doc = parseDocument(protectedText.text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines });
    if (doc.errors.length > 0) {
      throw new GatewayError(ErrorCodes.CONFIG_READ, `${file}: not valid YAML`, {
        details: doc.errors.map((e) => `${file}: ${e.message.split('\n')[0]}`),
      });
    }
    const shape = checkShape(doc, lines);
    if (shape.length > 0) throw new GatewayError(ErrorCodes.CONFIG_READ, `${file}: not a usable YAML document`, { details: shape.map((d) => `${file}: ${d}`) });
    // aliases are bounded by checkShape (the expansion count), not by yaml's per-anchor limit,
    // which would refuse a connection anchor shared by more than 100 devices
    raw = interpolateEnv(doc.toJS({ maxAliasCount: -1 }), opts.env ?? process.env, problems, '', protectedText);
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    // the last line of defence: whatever the YAML library or a deep structure throws is a config error
    throw new GatewayError(ErrorCodes.CONFIG_READ, `${file}: not a usable YAML document: ${e instanceof RangeError ? 'nested too deeply' : errorText(e)}`, {
      cause: e,
    });
  }
  if (problems.length > 0) throw new GatewayError(ErrorCodes.CONFIG_ENV, `${file}: ${problems.length} missing environment variable(s)`, { details: problems });
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const details = formatIssues(parsed.error.issues);
    throw new GatewayError(ErrorCodes.CONFIG, `${file}: ${details.length} problem(s)`, { details });
  }
  return deepFreeze(parsed.data);
}

/** YAML nesting deeper than this is refused (a gateway config nests about 6 levels) */
export const CONFIG_MAX_DEPTH = 64;
/** values the aliases of a document may add in total, beyond which it is an alias bomb */
export const CONFIG_MAX_ALIAS_VALUES = 1_000_000;
/** a config file larger than this is refused (a 10,000-tag config is about 1.2 MB) */
export const CONFIG_MAX_BYTES = 16 * 1024 * 1024;

/**
 * What the YAML parser accepts but a config must not be, each naming its line: nesting deeper than
 * CONFIG_MAX_DEPTH, an alias with no anchor before it, an alias inside the node it refers to (a
 * recursive structure), aliases that expand to more than CONFIG_MAX_ALIAS_VALUES values (an alias
 * bomb: nine anchors of nine aliases each make 9^9 values from 200 bytes). Recursion here is
 * bounded by the depth check.
 */
function checkShape(doc: Document, lines: LineCounter): string[] {
  const problems: string[] = [];
  const at = (n: { range?: readonly number[] | null | undefined } | null | undefined) => `line ${n?.range ? lines.linePos(n.range[0]!).line : '?'}`;
  const sizes = new Map<unknown, number>();
  const ancestors: unknown[] = [];
  let added = 0;
  let bombAt: string | undefined;
  // values in the expanded node (a scalar is 1), memoized: linear in the document, not in the expansion
  const inProgress = new Set<unknown>();
  const size = (n: unknown): number => {
    if (isAlias(n)) {
      const t = n.resolve(doc);
      // a recursive alias is reported by the walk; counted once here
      return t === undefined || inProgress.has(t) ? 1 : size(t);
    }
    const hit = sizes.get(n);
    if (hit !== undefined) return hit;
    let total = 1;
    inProgress.add(n);
    if (isMap(n) || isSeq(n)) for (const item of n.items) total += isPair(item) ? size(item.key) + size(item.value) : size(item);
    inProgress.delete(n);
    sizes.set(n, total);
    return total;
  };
  const walk = (n: unknown, depth: number): boolean => {
    if (n === null || n === undefined || (!isNode(n) && !isPair(n))) return true;
    if (depth > CONFIG_MAX_DEPTH) {
      problems.push(`${at(n as Node)}: nested deeper than ${CONFIG_MAX_DEPTH} levels`);
      return false;
    }
    if (isPair(n)) return walk(n.key, depth) && walk(n.value, depth);
    if (isAlias(n)) {
      const t = n.resolve(doc);
      if (t === undefined) problems.push(`${at(n)}: alias *${n.source} has no anchor &${n.source} before it`);
      else if (ancestors.includes(t)) problems.push(`${at(n)}: alias *${n.source} is inside the node it refers to (a recursive structure)`);
      else {
        added += size(t);
        if (added > CONFIG_MAX_ALIAS_VALUES && bombAt === undefined) bombAt = at(n);
      }
      return true;
    }
    if (isMap(n) || isSeq(n)) {
      ancestors.push(n);
      try {
        for (const item of n.items) if (!walk(item, depth + 1)) return false;
      } finally {
        ancestors.pop();
      }
    }
    return true;
  };
  walk(doc.contents, 0);
  if (bombAt !== undefined) problems.push(`${bombAt}: the aliases expand to more than ${CONFIG_MAX_ALIAS_VALUES.toLocaleString('en')} values (an alias bomb?)`);
  return problems;
}

/**
 * The text of a config file: regular files only (a FIFO would block forever, /dev/zero never ends),
 * at most CONFIG_MAX_BYTES read. Opened non-blocking, so a FIFO is seen for what it is at once.
 */
export function readConfigFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new GatewayError(ErrorCodes.CONFIG_READ, `cannot read config file ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new GatewayError(
        ErrorCodes.CONFIG_READ,
        `config file ${path} is not a regular file (${st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'a socket'}): give the path of a YAML file`,
      );
    const tooLarge = () =>
      new GatewayError(ErrorCodes.CONFIG_READ, `config file ${path} is larger than ${CONFIG_MAX_BYTES / 1024 / 1024} MB: not a gateway config`);
    if (st.size > CONFIG_MAX_BYTES) throw tooLarge();
    const buf = Buffer.allocUnsafe(Math.min(CONFIG_MAX_BYTES + 1, st.size + 65536));
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > CONFIG_MAX_BYTES) throw tooLarge();
      if (n === buf.length) break;
    }
    return buf.toString('utf8', 0, n);
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    throw new GatewayError(ErrorCodes.CONFIG_READ, `cannot read config file ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

/** A listen address (host:port) on the loopback interface. */
export function isLoopbackListen(listen: string): boolean {
  const host = listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
