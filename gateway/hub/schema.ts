/**
 * `hub.yaml`, the pilot-monitoring hub's config: the central InfluxDB it reads, the folder of
 * projects, where it listens and who may look. Strict like the gateway config (unknown keys are
 * errors naming their path), `${ENV}` interpolated by config/load.ts. Every alarm threshold has a
 * default taken from each project's policy file (never from code): set a key here only to override.
 */
import { z } from 'zod';
import { duration, identifier } from '../../config/common.js';
import { parseRational } from '../../verify/decimal.js';

export const HUB_ROLES = ['official', 'enterprise'] as const;
export type HubRole = (typeof HUB_ROLES)[number];

export const hubTokenSchema = z
  .strictObject({
    name: identifier('Token name, recorded as the actor of every access in the hub audit (e.g. bureau).'),
    token: z.string().min(8, 'expected a token of at least 8 characters').describe('The bearer token; use ${ENV} interpolation, never commit real tokens.'),
    role: z.enum(HUB_ROLES).describe('official: every project; enterprise: only the projects listed in `projects`.'),
    projects: z
      .array(z.string().min(1))
      .optional()
      .describe('enterprise tokens: the project ids (project.id of project.yaml) this token may see. Not allowed for official tokens.'),
  })
  .superRefine((t, ctx) => {
    if (t.role === 'enterprise' && (!t.projects || t.projects.length === 0))
      ctx.addIssue({ code: 'custom', path: ['projects'], message: 'an enterprise token needs the list of its project ids' });
    if (t.role === 'official' && t.projects)
      ctx.addIssue({ code: 'custom', path: ['projects'], message: 'an official token sees every project: remove projects (or use role: enterprise)' });
  });

const ratio = (description: string) =>
  z
    .union([z.string(), z.number()])
    .refine((v) => parseRational(v) !== undefined, { message: 'expected a decimal between 0 and 1 like "0.80"' })
    .transform((v) => parseRational(v)!)
    .describe(description);

export const hubSchema = z
  .strictObject({
    hub: z
      .strictObject({
        id: identifier("This hub's name: the `hub` tag of its audit records (several hubs behind a proxy give each its own).").default('hub'),
        logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('Log level (pino).'),
      })
      .default({ id: 'hub', logLevel: 'info' })
      .describe('Who this hub is.'),
    influx: z
      .strictObject({
        url: z.string().url().describe('Base URL of the central InfluxDB (v1 API: /query, /write), e.g. "http://10.1.0.5:8086".'),
        database: z.string().min(1).describe('Database every gateway forwards into (influx.database of their configs).'),
        measurement: z.string().min(1).default('equipment').describe('Measurement of device readings (influx.measurement of the gateway configs).'),
        username: z.string().default('').describe('User name; a user with READ on the database is enough (see the README). Empty: no authentication.'),
        password: z.string().default('').describe('Password (InfluxDB 2.x/3.x v1 API: the token). Use ${ENV}; never logged.'),
        timeout: duration('Time limit of one query.').default(600_000),
        concurrency: z.number().int().min(1).max(16).default(2).describe('Queries the hub runs at once against InfluxDB.'),
      })
      .describe('The central InfluxDB (v1 HTTP API) the gateways forward to.'),
    projects: z
      .string()
      .min(1)
      .describe(
        'Folder of projects, relative to this file: one sub-folder per project with its project.yaml, the files it names, and the gateway configs of its gateways (every other *.yaml).',
      ),
    http: z
      .strictObject({
        listen: z
          .string()
          .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8090')
          .default('127.0.0.1:8090')
          .describe('Address the hub listens on (loopback by default; put a TLS proxy in front to expose it).'),
        tokens: z
          .array(hubTokenSchema)
          .min(1, 'expected at least one token: every access to the hub needs one')
          .describe('Bearer tokens with their roles. Every access is audited.'),
        trustProxy: z
          .union([z.boolean(), z.array(z.string().min(1))])
          .default(false)
          .describe(
            "Behind a proxy: the proxies' addresses (or true for any) whose X-Forwarded-For names the client, so failed authentications are limited per client and not per proxy. Default false.",
          ),
      })
      .describe("The hub's HTTP API and pages."),
    audit: z
      .strictObject({
        database: z
          .string()
          .min(1)
          .optional()
          .describe(
            "Database of the hub audit (default: influx.database). With authentication on, give the hub user WRITE on it (and only READ on the plants' database).",
          ),
        measurement: z.string().min(1).default('hub_audit').describe('Measurement of the hub audit records.'),
      })
      .default({ measurement: 'hub_audit' })
      .describe('Where every access is recorded: an InfluxDB measurement, written before the answer leaves (no record, no answer).'),
    cache: z
      .strictObject({
        ttl: duration(
          "How long the live state (each gateway's newest heartbeat, its devices' newest readings: liveness and the silence alarms) is reused before InfluxDB is asked again. Keep it well below the silence thresholds.",
        ).default(30_000),
        figures: duration(
          "How long the verifier's figures over the 7- and 30-day windows (rates, classification, daily series, weekly evidence and their alarms) are reused.",
        ).default(300_000),
        history: duration('How long the counts of the days before today are reused (they change only when a gateway forwards a backlog late).').default(
          3_600_000,
        ),
      })
      .default({ ttl: 30_000, figures: 300_000, history: 3_600_000 })
      .describe('The short in-memory cache of figures (the hub keeps no other state).'),
    alarms: z
      .strictObject({
        gatewaySilent: duration(
          "Gateway silent: no heartbeat for longer than this. Default: the policy's staleness rule applied to the gateway's statusInterval, max(staleIntervals × statusInterval, staleMin).",
        ).optional(),
        deviceSilent: duration(
          "Device silent: an in-scope device without a reading for longer than this. Default: the policy's staleness rule, max(staleIntervals × interval, staleMin).",
        ).optional(),
        networkingRateMin: ratio(
          "Networking rate below this for the last full day raises an alarm. Default: the claimed tier's rule from the policy (full: every in-scope device networked at full.rMin; partial: at least partial.minNetworkedDevices networked at partial.rMin).",
        ).optional(),
        commandsPerWeekMin: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe(
            "Audited commands to a step's in-scope devices in the last full calendar week below this raise an alarm. Default: the policy's full.minCommandsPerWeek.",
          ),
        readsPerWeekMin: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe("Reads by registered systems in the last full calendar week below this raise an alarm. Default: the policy's full.minReadsPerWeek."),
      })
      .default({})
      .describe("Alarm thresholds; each absent key follows the project's policy file."),
  })
  .superRefine((cfg, ctx) => {
    const names = new Map<string, number>();
    cfg.http.tokens.forEach((t, i) => {
      if (names.has(t.name))
        ctx.addIssue({
          code: 'custom',
          path: ['http', 'tokens', i, 'name'],
          message: `duplicate token name "${t.name}" (also http.tokens[${names.get(t.name)}])`,
        });
      else names.set(t.name, i);
    });
  });

export type HubConfig = z.output<typeof hubSchema>;
export type HubToken = HubConfig['http']['tokens'][number];
