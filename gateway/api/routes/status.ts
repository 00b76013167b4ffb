/**
 * Health (public, not audited), the gateway's store and forwarder state, dead letters and loss
 * episodes (read scope) and the audit list (write scope: it tells who read what).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorText } from '../../../config/errors.js';
import { redactText } from '../../../config/redact.js';
import { basename } from 'node:path';
import type { StoreStats, StoredDeadLetter } from '../../../ingest/types.js';
import { deviceOut, type RouteOptions } from '../context.js';
import {
  auditSchema,
  deadLetterSchema,
  errorResponses,
  forwarderSchema,
  limitParam,
  lossEpisodeSchema,
  northTargetSchema,
  storeFullSchema,
  storeStatsSchema,
  timeParam,
} from '../schemas.js';

/** dead-letter payloads in the list are cut to this many characters */
export const DEAD_LETTER_PAYLOAD_MAX = 2048;

/** forwarder states in which the gateway is not ready (it buffers, but nothing reaches InfluxDB) */
const NOT_READY_FORWARDER = new Set(['auth-hold', 'stopped']);

export const statusRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const rt = ctx.runtime;

  app.get('/health/live', {
    config: { access: 'public' },
    schema: { tags: ['health'], summary: 'Liveness: the process answers', response: { 200: z.object({ status: z.literal('ok') }) } },
    handler: async () => ({ status: 'ok' as const }),
  });

  const readySchema = z.object({
    ready: z.boolean(),
    checks: z.object({
      store: z.object({
        ok: z.boolean().describe('false while the store is full or failing'),
        error: z.string().optional(),
        full: storeFullSchema.optional(),
        damaged: z.number().optional().describe('damaged store files moved aside and not yet salvaged (collection goes on: ready stays true)'),
      }),
      forwarder: z.object({
        ok: z.boolean(),
        configured: z.boolean(),
        state: z.string().optional(),
        lagMs: z.number().optional(),
        error: z.string().optional(),
      }),
    }),
  });

  app.get('/health/ready', {
    config: { access: 'public' },
    schema: {
      tags: ['health'],
      summary: 'Readiness: the store answers and has room, and the InfluxDB forwarder is not held (auth) or stopped',
      response: { 200: readySchema, 503: readySchema },
    },
    handler: async (_req, reply) => {
      let store: { ok: boolean; error?: string; full?: StoreStats['full']; damaged?: number };
      try {
        const st = rt.store.stats();
        const damaged = st.damaged.filter((d) => !d.salvaged).length;
        store = {
          ok: st.full === undefined,
          ...(st.full
            ? { full: st.full, error: st.full.reason === 'disk' ? 'store full: no space left on the disk' : 'store full: storage.maxSize reached' }
            : {}),
          ...(damaged ? { damaged } : {}),
        };
      } catch (e) {
        store = { ok: false, error: errorText(e) };
      }
      const f = rt.forwarder();
      const forwarder = f
        ? {
            ok: !NOT_READY_FORWARDER.has(f.state),
            configured: true,
            state: f.state,
            lagMs: f.lagMs,
            error: f.lastError === undefined ? undefined : redactText(f.lastError),
          }
        : { ok: true, configured: false };
      const ready = store.ok && forwarder.ok;
      return reply.code(ready ? 200 : 503).send({ ready, checks: { store, forwarder } });
    },
  });

  app.get('/api/status', {
    config: { access: 'read', audit: 'read' },
    schema: {
      tags: ['status'],
      summary: 'Gateway, store and forwarder state',
      response: {
        200: z.object({
          gateway: z.object({ id: z.string(), site: z.string().optional(), startedAt: z.number(), now: z.number(), uptimeMs: z.number() }),
          devices: z.object({ total: z.number(), enabled: z.number(), connected: z.number(), live: z.number(), silent: z.array(z.string()) }),
          store: storeStatsSchema,
          forwarder: forwarderSchema.nullable(),
          north: z.array(northTargetSchema).describe('each northbound MQTT target (north:)'),
        }),
        ...errorResponses,
      },
    },
    handler: async () => {
      const now = rt.clock.now();
      const views = rt.devices().map((v) => deviceOut(ctx, v, now));
      const f = rt.forwarder();
      return {
        gateway: { id: rt.config.gateway.id, site: rt.config.gateway.site, startedAt: rt.startedAt, now, uptimeMs: now - rt.startedAt },
        devices: {
          total: views.length,
          enabled: views.filter((d) => d.enabled).length,
          connected: views.filter((d) => d.status.connected).length,
          live: views.filter((d) => d.status.live).length,
          silent: views.filter((d) => d.status.silent).map((d) => d.id),
        },
        store: storeOut(rt.store.stats()),
        forwarder: f ? { ...f, lastError: f.lastError === undefined ? undefined : redactText(f.lastError) } : null,
        north: (rt.north?.() ?? []).map((t) => ({ ...t, lastError: t.lastError === undefined ? undefined : redactText(t.lastError) })),
      };
    },
  });

  const dlOut = (d: StoredDeadLetter): z.output<typeof deadLetterSchema> => {
    const long = d.payload !== undefined && d.payload.length > DEAD_LETTER_PAYLOAD_MAX;
    return {
      id: d.id,
      ts: d.ts,
      source: d.source,
      device: d.device,
      topic: d.topic,
      reason: d.reason,
      detail: d.detail,
      payload: long ? d.payload!.slice(0, DEAD_LETTER_PAYLOAD_MAX) : d.payload,
      payloadTruncated: long ? true : undefined,
    };
  };

  app.get('/api/dead-letters', {
    config: { access: 'read', audit: 'read' },
    schema: {
      tags: ['status'],
      summary: 'Payloads that could not be turned into readings, and lines InfluxDB rejected',
      querystring: z.strictObject({ limit: limitParam(100, 1000), source: z.string().max(50).optional().describe('mqtt, modbus, opcua, influx') }),
      response: {
        200: z.object({
          counts: z
            .object({ received: z.number(), kept: z.number(), dropped: z.number() })
            .describe('all sources: every dead letter ever received = those kept + those dropped (share of the store, retention, refused while full)'),
          deadLetters: z.array(deadLetterSchema),
        }),
        ...errorResponses,
      },
    },
    handler: async (req) => {
      const st = rt.store.stats();
      return {
        counts: { received: st.deadLettersReceived, kept: st.deadLetters, dropped: st.deadLettersDropped },
        deadLetters: rt.store.deadLetters({ limit: req.query.limit, source: req.query.source }).map(dlOut),
      };
    },
  });

  const nowMs = () => rt.clock.now();
  app.get('/api/losses', {
    config: { access: 'read', audit: 'read' },
    schema: {
      tags: ['status'],
      summary: 'Loss episodes: readings the store could not keep until InfluxDB had them (device, reason, from, to, count)',
      querystring: z.strictObject({
        from: timeParam(nowMs, 'episodes that end at or after this (ISO 8601, epoch ms, "-1d")').optional(),
        to: timeParam(nowMs, 'episodes that start before this').optional(),
        device: z.string().max(200).optional(),
      }),
      response: { 200: z.object({ losses: z.array(lossEpisodeSchema) }), ...errorResponses },
    },
    handler: async (req) => ({ losses: rt.store.losses(req.query) }),
  });

  const now = nowMs;
  app.get('/api/audit', {
    config: { access: 'write', audit: 'read' },
    schema: {
      tags: ['status'],
      summary: 'The access audit (write scope: it shows who read and wrote what)',
      querystring: z.strictObject({
        from: timeParam(now, 'start, inclusive (ISO 8601, epoch ms, "-1d")').optional(),
        to: timeParam(now, 'end, exclusive').optional(),
        action: z.enum(['read', 'write']).optional(),
        device: z.string().max(200).optional(),
        limit: limitParam(100, 10_000),
      }),
      response: { 200: z.object({ audits: z.array(auditSchema) }), ...errorResponses },
    },
    handler: async (req) => ({ audits: rt.store.audits(req.query) }),
  });
};

/** the store's stats as the API shows them: damaged files by name (storage.path is the config's business) */
function storeOut(st: StoreStats): StoreStats {
  return { ...st, damaged: st.damaged.map((d) => ({ ...d, file: basename(d.file) })) };
}
