/**
 * Commands: write a tag on a device, reload the config. Write scope; every attempt is audited
 * (actor, system, route, device, tag, value, result ok | denied | error), refused ones included.
 * The runtime's writeTag checks tag, writability, type and range and throws coded errors, which the
 * error handler maps: DEVICE_UNKNOWN/TAG_UNKNOWN 404, WRITE_TYPE/WRITE_RANGE 400,
 * WRITE_UNSUPPORTED 409, NOT_CONNECTED 503, WRITE_FAILED 502, TIMEOUT 504.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteOptions } from '../context.js';
import { errorResponses, errorSchema, tagParams, valueSchema } from '../schemas.js';

const WRITE = { access: 'write', audit: 'write' } as const;

export const commandRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const rt = ctx.runtime;

  app.post('/api/devices/:id/tags/:tag', {
    config: WRITE,
    schema: {
      tags: ['commands'],
      summary: 'Write a value to a tag on the device (audited)',
      params: tagParams,
      body: z.strictObject({
        value: z
          .union([z.number(), z.boolean(), z.string().max(1024)])
          .describe('number, boolean or string, as the tag expects; checked against the tag type and its min/max'),
      }),
      response: {
        200: z.object({ ok: z.literal(true), device: z.string(), tag: z.string(), value: valueSchema, ts: z.number() }),
        ...errorResponses,
        409: errorSchema,
        502: errorSchema,
        503: errorSchema,
        504: errorSchema,
      },
    },
    handler: async (req) => {
      const { id, tag } = req.params;
      await rt.writeTag(id, tag, req.body.value);
      return { ok: true as const, device: id, tag, value: req.body.value, ts: rt.clock.now() };
    },
  });

  app.post('/api/reload', {
    config: { access: 'write', audit: 'write' },
    schema: {
      tags: ['commands'],
      summary: 'Re-read the config file and restart only the devices whose config changed (like SIGHUP)',
      response: {
        200: z.object({ added: z.array(z.string()), removed: z.array(z.string()), restarted: z.array(z.string()), unchanged: z.array(z.string()) }),
        ...errorResponses,
        409: errorSchema,
      },
    },
    handler: async () => rt.reload(),
  });
};
