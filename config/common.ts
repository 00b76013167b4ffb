/**
 * Building blocks every module's schema uses: durations ("500ms", "1s", "14d") and sizes ("2GB")
 * parsed once into numbers, and the fields every device and every tag share. Each protocol's own
 * schema (adapters/<protocol>/schema.ts) extends these; gateway/schema.ts only composes.
 */
import { z } from 'zod';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3 };

/** "1.5s" → 1500. Returns undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)\s*$/.exec(text);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
}

/** "2GB" → 2147483648 (binary units; "GB" and "GiB" mean the same here). */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = SIZE_UNITS[m[2]!.toUpperCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

export function formatSize(bytes: number): string {
  for (const [u, f] of [
    ['TB', 1024 ** 4],
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const) {
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${u}`;
  }
  return `${bytes}B`;
}

export function formatDuration(ms: number): string {
  for (const [u, f] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= f && ms % f === 0) return `${ms / f}${u}`;
  }
  return `${ms}ms`;
}

/**
 * The longest delay a Node timer holds: 2^31-1 ms (24 days 20 h 31 min). Longer ones fire after
 * 1 ms, so a duration that drives a timer is refused beyond it (`interval: 30d` would poll every ms).
 */
export const TIMER_MAX_MS = 2 ** 31 - 1;
const TIMER_LIMIT = { max: TIMER_MAX_MS, why: '24d 20h 31m, the longest timer Node can run' };

/**
 * A duration written as a string ("500ms", "1s", "5m", "14d"), or a number of milliseconds. Output: ms.
 * At most TIMER_MAX_MS unless `limit` says otherwise (a duration that is no timer, like a retention,
 * or one a protocol field bounds, like the MQTT keepalive); beyond it the error names the key.
 */
export const duration = (description: string, limit: { max: number; why: string } = TIMER_LIMIT) =>
  z
    .union([z.string(), z.number().nonnegative()])
    .transform((v, ctx) => {
      const ms = typeof v === 'number' ? v : parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a duration like "500ms", "1s", "5m", "14d", got "${v}"` });
        return z.NEVER;
      }
      if (ms > limit.max) {
        ctx.addIssue({ code: 'custom', message: `expected at most ${limit.why}, got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ format: 'duration' })
    .describe(description);

/** A size written as a string ("512MB", "2GB") or a number of bytes. Output: bytes. */
export const size = (description: string) =>
  z
    .union([z.string(), z.number().int().positive()])
    .transform((v, ctx) => {
      if (typeof v === 'number') return v;
      const b = parseSize(v);
      if (b === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a size like "512MB" or "2GB", got "${v}"` });
        return z.NEVER;
      }
      return b;
    })
    .meta({ format: 'size' })
    .describe(description);

/** What a tag means for the verifier (the minimum signal set of verify/README.md). */
export const TAG_ROLES = ['state', 'counter', 'parameter', 'quality', 'alarm', 'other'] as const;
export type TagRole = (typeof TAG_ROLES)[number];

const IDENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
export const identifier = (description: string) => z.string().regex(IDENT, 'expected letters, digits, "_", "-" or "." (no spaces)').describe(description);

/** Fields every tag has, whatever its protocol. */
export const baseTagFields = {
  name: identifier('Tag name; becomes the InfluxDB field name. Unique within a device; not "time" (InfluxDB refuses that field name).').refine(
    (n) => n !== 'time',
    {
      message: '"time" cannot be a tag name: InfluxDB refuses a field called time (choose e.g. cycle_time)',
    },
  ),
  role: z.enum(TAG_ROLES).default('other').describe('What the tag means to the verifier: state, counter, parameter, quality, alarm or other.'),
  unit: z.string().optional().describe('Engineering unit, for display only (e.g. "kN", "°C").'),
  description: z.string().optional().describe('Free text shown in the dashboard.'),
  min: z.number().optional().describe('Lowest value a write may set (writes outside are refused).'),
  max: z.number().optional().describe('Highest value a write may set (writes outside are refused).'),
  writable: z.boolean().default(false).describe('Whether the API may write this tag (audited).'),
};

/** Fields every device has, whatever its protocol. */
export const baseDeviceFields = {
  id: identifier('Device id; becomes the `device` tag in InfluxDB and must match the project equipment register.'),
  name: z.string().optional().describe('Human name shown in the dashboard and reports (e.g. 冲压机 1 号).'),
  line: z.string().optional().describe('Production line; becomes the `line` tag.'),
  process: z.string().optional().describe('Process step id (e.g. stamping); becomes the `process` tag.'),
  interval: duration('Poll or sampling interval (e.g. "1s", "500ms").').default(1000),
  enabled: z.boolean().default(true).describe('Set false to keep a device in the config without collecting from it.'),
};

/** Checks that tag names are unique inside a device, reporting the path of the duplicate. */
export function uniqueTagNames(tags: ReadonlyArray<{ name: string }>, ctx: z.RefinementCtx, path: (string | number)[] = ['tags']): void {
  const seen = new Map<string, number>();
  tags.forEach((t, i) => {
    const prev = seen.get(t.name);
    if (prev !== undefined) ctx.addIssue({ code: 'custom', path: [...path, i, 'name'], message: `duplicate tag name "${t.name}" (also tags[${prev}])` });
    else seen.set(t.name, i);
  });
}

/**
 * Freezes an object and everything it holds, in place, and returns it: a loaded config or policy
 * is shared by every module, so none may change it under the others.
 */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
