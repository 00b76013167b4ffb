/**
 * Zod schemas of the API's inputs and outputs: fastify-type-provider-zod validates requests and
 * serializes responses with them, and @fastify/swagger turns them into the OpenAPI document at /docs.
 * Response objects are explicit whitelists: a device's connection config (hosts, passwords, tokens)
 * has no field here, so it cannot leak into a response.
 */
import { z } from 'zod';
import { parseDuration } from '../../config/common.js';
import { parseTimeArg } from '../../config/time.js';

export const errorSchema = z
  .object({
    statusCode: z.number().int(),
    code: z.string().describe('GW_ERR_* code; clients match on it, never on the message'),
    error: z.string(),
    message: z.string(),
    issues: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .describe('validation problems, each naming its path (body.value, querystring.from)'),
    details: z.array(z.string()).optional(),
  })
  .describe('An error');

export const errorResponses = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  429: errorSchema,
} as const;

export const valueSchema = z.union([z.number(), z.boolean(), z.string()]);

export const tagInfoSchema = z.object({
  name: z.string(),
  role: z.string().describe('state, counter, parameter, quality, alarm or other'),
  unit: z.string().optional(),
  description: z.string().optional(),
  writable: z.boolean(),
  min: z.number().optional(),
  max: z.number().optional(),
});

export const deviceStatusSchema = z.object({
  connected: z.boolean(),
  live: z.boolean().describe('connected and not silent'),
  silent: z.boolean().describe('no good reading for longer than staleAfterMs (the alarm)'),
  silentForMs: z.number().describe('ms since the last good reading (or since start, when none yet)'),
  staleAfterMs: z.number().describe('max(5 × interval, 15 min)'),
  lastReadingAt: z.number().optional().describe('ms epoch of the last good reading'),
  lastError: z.string().optional(),
  lastErrorAt: z.number().optional(),
  good: z.number().int().describe('good (and uncertain) readings since start'),
  bad: z.number().int().describe('bad readings since start'),
  cycleMs: z.number().optional().describe('duration of the last poll cycle (pollers only)'),
  pollsLate: z.number().int().optional().describe('pollers only: ticks since start whose poll started more than half an interval after the tick'),
  pollsSkipped: z
    .number()
    .int()
    .optional()
    .describe('pollers only: ticks since start without a poll (the previous poll was still running, or a newer tick was already due)'),
  demoted: z.boolean(),
});

export const deviceSchema = z
  .object({
    id: z.string(),
    name: z.string().optional(),
    line: z.string().optional(),
    process: z.string().optional(),
    protocol: z.string(),
    interval: z.number().describe('poll or sampling interval, ms'),
    enabled: z.boolean(),
    tags: z.array(tagInfoSchema),
    status: deviceStatusSchema,
  })
  .describe('A device with its live status; never its connection settings');

export const readingSchema = z.object({
  device: z.string(),
  tag: z.string(),
  kind: z.enum(['float', 'integer', 'boolean', 'string']),
  ts: z.number().describe('ms epoch'),
  value: valueSchema.nullable(),
  quality: z.enum(['good', 'uncertain', 'bad']),
  error: z.string().optional(),
});

export const pointSchema = z.object({
  ts: z.number(),
  value: valueSchema.nullable(),
  quality: z.enum(['good', 'uncertain', 'bad']),
  error: z.string().optional(),
});

export const idParams = z.strictObject({ id: z.string().min(1).max(200).describe('device id') });
export const tagParams = z.strictObject({ id: z.string().min(1).max(200).describe('device id'), tag: z.string().min(1).max(200).describe('tag name') });

/** A time in a query string: ISO 8601, epoch ms, "now" or "-15m" (relative to now). */
export function timeParam(now: () => number, description: string) {
  return z
    .string()
    .transform((s, ctx) => {
      const t = parseTimeArg(s, now());
      if (t === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected an ISO 8601 time, epoch milliseconds, "now" or "-15m", got "${s.slice(0, 40)}"` });
        return z.NEVER;
      }
      return t;
    })
    .describe(description);
}

/** A duration in a query string ("1m", "30s") or ms. */
export function durationParam(description: string) {
  return z
    .string()
    .transform((s, ctx) => {
      const ms = /^\d+$/.test(s) ? Number(s) : parseDuration(s);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `expected a duration like "1m" or "30s", or milliseconds, got "${s.slice(0, 40)}"` });
        return z.NEVER;
      }
      return ms;
    })
    .describe(description);
}

export const limitParam = (def: number, max: number) =>
  z.coerce.number().int().min(1).max(max).default(def).describe(`at most this many rows (default ${def}, max ${max})`);

export const storeFullSchema = z
  .object({
    reason: z
      .enum(['disk', 'maxSize'])
      .describe(
        'disk: no space left, readings are refused; maxSize: the size limit drops the oldest unforwarded readings (or refuses new ones when nothing is left to drop)',
      ),
    since: z.number().describe('ms epoch when the store became full'),
    refused: z.number().describe('readings refused since then'),
    dropped: z.number().describe('unforwarded readings dropped since then to make room'),
  })
  .describe('The store-full alarm: set while the store cannot take readings without losing some');

export const damagedFileSchema = z.object({
  file: z.string().describe('file name of the damaged store moved aside (in storage.path)'),
  at: z.number().describe('ms epoch when it was moved aside'),
  error: z.string(),
  salvaged: z
    .object({ at: z.number(), readings: z.number(), audits: z.number(), deadLetters: z.number() })
    .optional()
    .describe('set once `fgw store salvage` has read it'),
});

export const lossSchema = z.object({
  device: z.string(),
  reason: z.enum(['store-full', 'store-error', 'maxSize', 'retention']),
  count: z.number().int(),
});

export const lossEpisodeSchema = lossSchema.extend({
  id: z.number().int(),
  from: z.number().describe('ms epoch of the first reading lost'),
  to: z.number().describe('ms epoch of the last reading lost'),
  open: z.boolean().describe('true while its cause lasts'),
});

export const storeStatsSchema = z.object({
  sizeBytes: z.number().describe('bytes on disk: database, WAL, wal-index, reserve'),
  maxSizeBytes: z.number().describe('storage.maxSize'),
  readings: z.number(),
  backlog: z.number(),
  oldestTs: z.number().optional(),
  newestTs: z.number().optional(),
  dropped: z.number().describe('readings dropped by retention or maxSize since the store was created'),
  droppedUnforwarded: z.number().describe('of dropped, those InfluxDB never got'),
  full: storeFullSchema.optional(),
  lost: z.number().describe('readings lost (never stored, or dropped before InfluxDB had them) since the store was created'),
  losses: z.array(lossSchema).describe('lost, per device and reason'),
  deadLetters: z.number().describe('dead letters kept now'),
  deadLettersReceived: z.number().describe('dead letters ever received (= kept + dropped)'),
  deadLettersDropped: z.number().describe('dead letters dropped by their share of the store, by retention, or refused while full'),
  auditDropped: z.number().describe('audit records dropped by their share, by retention, or refused while full'),
  auditDroppedUnforwarded: z.number().describe('of auditDropped, those InfluxDB never got'),
  damaged: z.array(damagedFileSchema).describe('damaged store files moved aside (the store-damaged alarm while not salvaged)'),
});

export const forwarderSchema = z.object({
  state: z.enum(['idle', 'ok', 'retrying', 'auth-hold', 'stopped']),
  backlog: z.number(),
  lagMs: z.number(),
  lastError: z.string().optional(),
  lastWriteMs: z.number().optional(),
  written: z.number(),
  deadLettered: z.number(),
  batches: z.number(),
  auditsWritten: z.number().describe('audit records InfluxDB acknowledged'),
  failures: z.number().describe('failed write requests, any reason'),
});

/** One northbound target (gateway/north.ts NorthView). */
export const northTargetSchema = z.object({
  name: z.string(),
  system: z.string().describe('the system its commands are audited under'),
  format: z.enum(['json', 'sparkplugb']),
  url: z.string().describe('broker URL, without credentials'),
  connected: z.boolean().describe('connected and births/status published: data flows'),
  lastError: z.string().optional(),
  reconnectAttempts: z.number().describe('failed connection attempts since the last success'),
  connects: z.number(),
  backlog: z.number().describe("readings and status rows after the target's cursor, not yet acknowledged"),
  lagMs: z.number().describe('age of the oldest reading not yet acknowledged, ms'),
  published: z.number().describe('messages the broker acknowledged'),
  publishedReadings: z.number(),
  publishRate: z.number().describe('acknowledged messages per second over the last 10 s'),
  replaying: z.boolean().describe('a backlog is being replayed (at most replayRate messages per second)'),
  resent: z.number().describe('messages sent again after they were not acknowledged'),
  droppedUnpublished: z.number().describe("readings the store's retention or maxSize dropped before this target had published them"),
  commands: z.object({ ok: z.number(), denied: z.number(), error: z.number() }),
  rebirths: z.number().describe('Sparkplug rebirth requests answered'),
});

export const auditSchema = z.object({
  seq: z.number(),
  ts: z.number(),
  actor: z.string(),
  system: z.string(),
  action: z.enum(['read', 'write']),
  route: z.string(),
  device: z.string().optional(),
  tag: z.string().optional(),
  value: z.string().optional(),
  result: z.enum(['ok', 'denied', 'error']),
  detail: z.string().optional(),
});

export const deadLetterSchema = z.object({
  id: z.number(),
  ts: z.number(),
  source: z.string(),
  device: z.string().optional(),
  topic: z.string().optional(),
  reason: z.string(),
  detail: z.string().optional(),
  payload: z.string().optional().describe('the payload as text, cut to 2 KiB in this list'),
  payloadTruncated: z.boolean().optional(),
});
