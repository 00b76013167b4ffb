/**
 * Devices and their data: live status, latest values, a tag's history and the line's networking
 * rate over time. Read scope; reads by a token are audited.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorCodes, GatewayError } from '../../../config/errors.js';
import type { SlotCount, StoredReading } from '../../../ingest/types.js';
import { deviceOut, type RouteOptions } from '../context.js';
import { badRequest } from '../errors.js';
import { networkingSeries } from '../live.js';
import {
  deviceSchema,
  durationParam,
  errorResponses,
  idParams,
  limitParam,
  pointSchema,
  readingSchema,
  tagParams,
  timeParam,
  valueSchema,
} from '../schemas.js';

const READ = { access: 'read', audit: 'read' } as const;

function readingOut(r: StoredReading): z.output<typeof readingSchema> {
  return { device: r.device, tag: r.tag, kind: r.kind, ts: r.ts, value: r.value, quality: r.quality, error: r.error };
}

/** most slots one networking query may ask for */
export const MAX_NETWORKING_SLOTS = 2000;

export const deviceRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const rt = ctx.runtime;
  const now = () => rt.clock.now();
  const deviceOr404 = (id: string) => {
    const d = rt.device(id);
    if (!d) throw new GatewayError(ErrorCodes.DEVICE_UNKNOWN, `no device "${id}"`);
    return d;
  };

  app.get('/api/devices', {
    config: READ,
    schema: {
      tags: ['devices'],
      summary: 'All devices with their live status',
      response: { 200: z.object({ now: z.number(), devices: z.array(deviceSchema) }), ...errorResponses },
    },
    handler: async () => {
      const t = now();
      return { now: t, devices: rt.devices().map((v) => deviceOut(ctx, v, t)) };
    },
  });

  app.get('/api/devices/:id', {
    config: READ,
    schema: { tags: ['devices'], summary: 'One device with its live status', params: idParams, response: { 200: deviceSchema, ...errorResponses } },
    handler: async (req) => deviceOut(ctx, deviceOr404(req.params.id), now()),
  });

  app.get('/api/devices/:id/latest', {
    config: READ,
    schema: {
      tags: ['data'],
      summary: "The newest stored reading of each of a device's tags",
      params: idParams,
      response: { 200: z.object({ device: z.string(), readings: z.array(readingSchema) }), ...errorResponses },
    },
    handler: async (req) => {
      deviceOr404(req.params.id);
      return { device: req.params.id, readings: rt.store.latest(req.params.id).map(readingOut) };
    },
  });

  app.get('/api/latest', {
    config: READ,
    schema: {
      tags: ['data'],
      summary: 'The newest stored reading of every (device, tag)',
      response: { 200: z.object({ readings: z.array(readingSchema) }), ...errorResponses },
    },
    handler: async () => ({ readings: rt.store.latest().map(readingOut) }),
  });

  const historyQuery = z
    .strictObject({
      from: timeParam(now, 'start, inclusive (ISO 8601, epoch ms, "-1h"); default one hour before `to`').optional(),
      to: timeParam(now, 'end, exclusive (ISO 8601, epoch ms, "now"); default now').optional(),
      limit: limitParam(1000, 10_000),
      order: z.enum(['asc', 'desc']).default('asc').describe('asc: oldest first; desc: newest first (with limit: the newest points)'),
    })
    .superRefine((q, c) => {
      if (q.from !== undefined && q.to !== undefined && q.from >= q.to) c.addIssue({ code: 'custom', path: ['from'], message: 'from must be before to' });
    });

  app.get('/api/devices/:id/tags/:tag/history', {
    config: READ,
    schema: {
      tags: ['data'],
      summary: 'Stored readings of one tag over a time range',
      params: tagParams,
      querystring: historyQuery,
      response: {
        200: z.object({
          device: z.string(),
          tag: z.string(),
          from: z.number(),
          to: z.number(),
          points: z.array(pointSchema),
          truncated: z.boolean().describe('true when `limit` cut the range short'),
        }),
        ...errorResponses,
      },
    },
    handler: async (req) => {
      const { id, tag } = req.params;
      const d = deviceOr404(id);
      if (!d.config.tags.some((t) => t.name === tag)) throw new GatewayError(ErrorCodes.TAG_UNKNOWN, `device "${id}" has no tag "${tag}"`);
      const to = req.query.to ?? now();
      const from = req.query.from ?? to - 3_600_000;
      if (from >= to) throw badRequest('querystring.from', 'from must be before to');
      const rows = rt.store.query({ device: id, tag, from, to, measurement: 'data', limit: req.query.limit, order: req.query.order });
      return {
        device: id,
        tag,
        from,
        to,
        points: rows.map((r) => ({ ts: r.ts, value: r.value, quality: r.quality, error: r.error })),
        truncated: rows.length >= req.query.limit,
      };
    },
  });

  app.get('/api/sparklines', {
    config: READ,
    schema: {
      tags: ['data'],
      summary: 'The newest points of every tag of every enabled device, in one request (the dashboard sparklines)',
      querystring: z.strictObject({
        points: limitParam(120, 1000).describe('newest points per tag (default 120, max 1000)'),
        from: timeParam(now, 'oldest point to include (default one hour ago)').optional(),
      }),
      response: {
        200: z.object({
          series: z.array(
            z.object({
              device: z.string(),
              tag: z.string(),
              points: z.array(z.tuple([z.number(), valueSchema.nullable()])).describe('[ts, value] ascending; null for bad readings'),
            }),
          ),
        }),
        ...errorResponses,
      },
    },
    handler: async (req) => {
      const t = now();
      const from = req.query.from ?? t - 3_600_000;
      const series = [];
      for (const v of rt.devices()) {
        if (!v.config.enabled) continue;
        for (const tag of v.config.tags) {
          const rows = rt.store.query({ device: v.config.id, tag: tag.name, from, to: t + 1, measurement: 'data', order: 'desc', limit: req.query.points });
          series.push({ device: v.config.id, tag: tag.name, points: rows.reverse().map((r) => [r.ts, r.value] as [number, StoredReading['value']]) });
        }
      }
      return { series };
    },
  });

  const networkingQuery = z.strictObject({
    from: timeParam(now, 'start (ISO 8601, epoch ms, "-1h"); default one hour before `to`').optional(),
    to: timeParam(now, 'end, exclusive; default now').optional(),
    step: durationParam('slot length ("1m", "30s" or ms); default 1m').optional(),
    devices: z.string().optional().describe('comma-separated device ids; default every enabled device'),
  });

  app.get('/api/networking', {
    config: READ,
    schema: {
      tags: ['data'],
      summary: 'Networking rate of the line over time: per slot, the share of devices with at least one good reading',
      querystring: networkingQuery,
      response: {
        200: z.object({
          from: z.number(),
          to: z.number(),
          step: z.number(),
          devices: z.array(z.string()),
          points: z.array(z.object({ ts: z.number(), live: z.number(), total: z.number(), rate: z.number().nullable() })),
          liveNow: z.number().describe('devices live now (connected, not silent)'),
        }),
        ...errorResponses,
      },
    },
    handler: async (req) => {
      const to = req.query.to ?? now();
      const step = req.query.step ?? 60_000;
      const from = req.query.from ?? to - 3_600_000;
      if (from >= to) throw badRequest('querystring.from', 'from must be before to');
      if ((to - from) / step > MAX_NETWORKING_SLOTS) {
        throw badRequest('querystring.step', `at most ${MAX_NETWORKING_SLOTS} slots per query: raise step or shorten the range`);
      }
      const wanted = req.query.devices
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const views = rt.devices().filter((v) => (wanted ? wanted.includes(v.config.id) : v.config.enabled));
      if (wanted) for (const id of wanted) if (!views.some((v) => v.config.id === id)) throw new GatewayError(ErrorCodes.DEVICE_UNKNOWN, `no device "${id}"`);
      const counts = new Map<string, SlotCount[]>();
      for (const v of views) counts.set(v.config.id, rt.store.slotCounts({ device: v.config.id, from, to, slotMs: step }));
      const t = now();
      return {
        from,
        to,
        step,
        devices: views.map((v) => v.config.id),
        points: networkingSeries(counts, from, to, step),
        liveNow: views.filter((v) => deviceOut(ctx, v, t).status.live).length,
      };
    },
  });
};
