/**
 * Config references (Markdown) generated from zod schemas' descriptions and defaults, so a README
 * cannot drift from the code (gateway/reference.ts and gateway/hub/reference.ts use it). It walks
 * the schemas themselves (not a JSON Schema export) so durations and sizes show their defaults as
 * written ("10s", "2GB").
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { formatDuration, formatSize } from './common.js';

type Any = z.ZodType & { _zod: { def: Record<string, any> } };

interface Field {
  schema: Any;
  description?: string;
  default?: unknown;
  required: boolean;
  format?: string;
}

/** Unwraps optional/default/pipe wrappers, collecting the description, default and format on the way. */
function unwrap(s: Any): Field {
  const f: Field = { schema: s, required: true };
  let cur: Any = s;
  for (;;) {
    f.description ??= cur.description;
    const meta = z.globalRegistry.get(cur) as { format?: string } | undefined;
    if (meta?.format) f.format ??= meta.format;
    const def = cur._zod.def;
    if (def.type === 'optional') {
      f.required = false;
      cur = def.innerType;
    } else if (def.type === 'default') {
      f.required = false;
      f.default = typeof def.defaultValue === 'function' ? def.defaultValue() : def.defaultValue;
      cur = def.innerType;
    } else if (def.type === 'pipe' && def.in) {
      const inner = unwrap(def.in);
      f.description ??= inner.description;
      f.format ??= inner.format;
      cur = def.in;
      break;
    } else break;
  }
  f.schema = cur;
  return f;
}

function typeName(s: Any, format?: string): string {
  if (format === 'duration') return 'duration';
  if (format === 'size') return 'size';
  const def = s._zod.def;
  switch (def.type) {
    case 'enum':
      return Object.values(def.entries as Record<string, string>)
        .map((v) => `\`${v}\``)
        .join(' | ');
    case 'literal':
      return (def.values as unknown[]).map((v) => `\`${String(v)}\``).join(' | ');
    case 'union':
      return [...new Set((def.options as Any[]).map((o) => typeName(unwrap(o).schema, unwrap(o).format)))].join(' | ');
    case 'array':
      return `list of ${typeName(unwrap(def.element).schema, unwrap(def.element).format)}`;
    case 'object':
      return 'object';
    case 'pipe':
      return typeName(def.in);
    default:
      return def.type;
  }
}

function showDefault(f: Field): string {
  if (f.default === undefined) return f.required ? '**required**' : '';
  if (f.format === 'duration' && typeof f.default === 'number') return `\`${formatDuration(f.default)}\``;
  if (f.format === 'size' && typeof f.default === 'number') return `\`${formatSize(f.default)}\``;
  return `\`${JSON.stringify(f.default)}\``;
}

const cell = (s: unknown) =>
  String(s ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');

function objectShapes(s: Any): Array<Record<string, Any>> {
  const def = s._zod.def;
  if (def.type === 'object') return [def.shape as Record<string, Any>];
  if (def.type === 'union') return (def.options as Any[]).flatMap((o) => objectShapes(unwrap(o).schema));
  if (def.type === 'pipe') return objectShapes(def.in);
  return [];
}

function rows(shape: Record<string, Any>, path: string, out: string[], seen: Set<string>): void {
  for (const [key, raw] of Object.entries(shape)) {
    const f = unwrap(raw);
    const p = path ? `${path}.${key}` : key;
    const def = f.schema._zod.def;
    if (!seen.has(p)) {
      seen.add(p);
      out.push(`| \`${p}\` | ${cell(typeName(f.schema, f.format))} | ${cell(showDefault(f))} | ${cell(f.description)} |`);
    }
    for (const sub of objectShapes(f.schema)) rows(sub, p, out, seen);
    if (def.type === 'array') for (const sub of objectShapes(unwrap(def.element).schema)) rows(sub, `${p}[]`, out, seen);
  }
}

/** The key / type / default / description table of a schema's keys (a strict object schema), under `prefix`. */
export function schemaTable(schema: z.ZodType, prefix = ''): string {
  return table(objectShapes(schema as unknown as Any)[0]!, prefix);
}

function table(shape: Record<string, Any>, prefix: string): string {
  const out = ['| key | type | default | description |', '|---|---|---|---|'];
  rows(shape, prefix, out, new Set());
  return out.join('\n');
}

/**
 * The reference of a config: one table per top-level key of `root` but `devices`, then one table
 * per device schema (`devices[]`, by protocol), between the `begin` and `end` markers.
 */
export function configReferenceOf(root: z.ZodType, devices: ReadonlyArray<{ protocol: string; schema: z.ZodType }>, begin: string, end: string): string {
  const shape = objectShapes(root as unknown as Any)[0]!;
  const parts: string[] = [begin, ''];
  for (const [key, s] of Object.entries(shape)) {
    if (key === 'devices') continue;
    const f = unwrap(s);
    parts.push(`#### \`${key}\``, '', cell(f.description), '', table({ [key]: s }, ''), '');
  }
  parts.push('#### `devices[]`', '', 'One entry per machine; the fields depend on `protocol`.', '');
  for (const m of devices) {
    const dev = objectShapes(m.schema as unknown as Any)[0]!;
    parts.push(`##### \`protocol: ${m.protocol}\``, '', table(dev, 'devices[]'), '');
  }
  parts.push(end);
  return parts.join('\n');
}

/** Rewrites the section of `file` between `begin` and `end` with `content` (which holds the markers); true when it changed. */
export function replaceSection(file: string, begin: string, end: string, content: string): boolean {
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${file}: markers ${begin} … ${end} not found`);
  const next = text.slice(0, a) + content + text.slice(b + end.length);
  if (next !== text) writeFileSync(file, next);
  return next !== text;
}
