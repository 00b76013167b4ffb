/**
 * The gateway config, composed from each module's own schema: the root only
 * composes. Every field has a description and, where sensible, a default; objects are strict so a
 * typo is an error, not a silently ignored key.
 */
import { z } from 'zod';
import { adapterModules } from '../adapters/registry.js';
import type { BaseDevice } from '../adapters/types.js';
import { northSchema } from '../adapters/mqtt/north/schema.js';
import { influxSchema, storageSchema } from '../ingest/schema.js';
import { duration, identifier } from '../config/common.js';

export const gatewaySectionSchema = z
  .strictObject({
    id: identifier('Gateway id; becomes the `gateway` tag on every point.'),
    site: z.string().optional().describe('Site (plant) name; becomes the `site` tag.'),
    statusInterval: duration(
      'How often the gateway writes its heartbeat and per-device status points (measurement gateway_status). The verifier counts a slot without a heartbeat as a platform outage.',
    ).default(10_000),
    stopTimeout: duration(
      'On shutdown, how long to keep forwarding what is buffered before closing (the rest stays in the store and goes next start).',
    ).default(10_000),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('Log level (pino).'),
  })
  .describe('Who this gateway is.');

export const TOKEN_SCOPES = ['read', 'write'] as const;

export const tokenSchema = z.strictObject({
  name: identifier('Token name, recorded as the actor in the audit (e.g. mes).'),
  system: z.string().min(1).describe('Consumer system this token belongs to (MES, ERP, platform): data use is counted per system.'),
  token: z.string().min(8, 'expected a token of at least 8 characters').describe('The bearer token; use ${ENV} interpolation, never commit real tokens.'),
  scopes: z.array(z.enum(TOKEN_SCOPES)).min(1).default(['read']).describe('read: data and status; write: commands to devices.'),
});

export const httpSchema = z
  .strictObject({
    listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8080')
      .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'the port must be 0..65535')
      .default('127.0.0.1:8080')
      .describe('Address the API and dashboard listen on. Without tokens only a loopback address is allowed.'),
    tokens: z.array(tokenSchema).default([]).describe('Bearer tokens, one per consumer system; every read by a token and every write is audited.'),
    hosts: z
      .array(
        z.string().regex(/^\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/, 'expected a host name such as gw01.plant.local, or .plant.local for every name under it'),
      )
      .default([])
      .describe(
        'Host names clients use to reach the API. The Host header of every request must be one of them, the name in `listen` or an IP address (loopback names too when the API listens on loopback or 0.0.0.0); anything else gets 421, which defeats DNS rebinding. `.plant.local` accepts every name under plant.local.',
      ),
    projects: z.array(z.string()).default([]).describe('Project files (project.yaml) shown in the dashboard pilots view, relative to this config file.'),
    bodyLimit: z.number().int().positive().default(65536).describe('Largest request body accepted, bytes.'),
  })
  .describe('The fastify API and web dashboard.');

function devicesSchema() {
  const schemas = adapterModules.map((m) => m.deviceSchema);
  const protocols = adapterModules.map((m) => m.protocol);
  const union = z.discriminatedUnion('protocol', schemas as unknown as [z.ZodObject<any>, ...z.ZodObject<any>[]], {
    error: (iss) => (iss.code === 'invalid_union' ? `expected protocol to be one of ${protocols.join(', ')}` : undefined),
  });
  return z
    .array(union as unknown as z.ZodType<DeviceConfig>)
    .default([])
    .describe('The devices to collect from, one entry per machine.');
}

export const gatewayConfigSchema = z
  .strictObject({
    gateway: gatewaySectionSchema,
    storage: storageSchema,
    influx: influxSchema.optional().describe('InfluxDB to forward to (v1 HTTP API). Without it the data stays in the embedded store.'),
    http: httpSchema.default({ listen: '127.0.0.1:8080', tokens: [], hosts: [], projects: [], bodyLimit: 65536 }),
    devices: devicesSchema(),
    north: northSchema,
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.devices.forEach((d, i) => {
      const prev = seen.get(d.id);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['devices', i, 'id'], message: `duplicate device id "${d.id}" (also devices[${prev}])` });
      else seen.set(d.id, i);
    });
    const names = new Map<string, number>();
    cfg.http.tokens.forEach((t, i) => {
      if (names.has(t.name)) ctx.addIssue({ code: 'custom', path: ['http', 'tokens', i, 'name'], message: `duplicate token name "${t.name}"` });
      names.set(t.name, i);
    });
    // northbound targets publish configured devices and tags only
    const targets = new Map<string, number>();
    const clients = new Map<string, number>();
    cfg.north.forEach((t, i) => {
      const prev = targets.get(t.name);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['north', i, 'name'], message: `duplicate target name "${t.name}" (also north[${prev}])` });
      else targets.set(t.name, i);
      // two targets with one client id on one broker would take each other's session over
      const client = `${t.url}\u0000${t.clientId ?? `fgw-${cfg.gateway.id}-${t.name}`}`;
      const other = clients.get(client);
      if (other !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['north', i, 'clientId'],
          message: `the same broker and client id as north[${other}]: give each target its own clientId`,
        });
      else clients.set(client, i);
      (t.devices ?? []).forEach((sel, j) => {
        const id = typeof sel === 'string' ? sel : sel.id;
        const d = cfg.devices.find((x) => x.id === id);
        if (!d) {
          ctx.addIssue({ code: 'custom', path: ['north', i, 'devices', j], message: `no device "${id}" in devices` });
          return;
        }
        if (typeof sel !== 'string')
          (sel.tags ?? []).forEach((tag, k) => {
            if (!d.tags.some((x) => x.name === tag))
              ctx.addIssue({ code: 'custom', path: ['north', i, 'devices', j, 'tags', k], message: `device "${id}" has no tag "${tag}"` });
          });
      });
    });
  });

export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
/** A device of any protocol; protocol-specific fields are the adapter's business. */
export type DeviceConfig = BaseDevice & Record<string, unknown>;
