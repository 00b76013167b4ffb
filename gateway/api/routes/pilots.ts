/**
 * The pilots view: the projects listed in `http.projects` (project files, relative to the config
 * file), each with
 * - its live networking rate: in-scope devices of the equipment register that are live now /
 *   in-scope devices (in scope: the policy's inScopeCategories, not exempt), and
 * - a preliminary classification by the verifier itself (verify/run.ts over this gateway's own
 *   embedded store, exactly as `fgw verify --source store --preliminary` would), over the last
 *   `measure.minWindow` (30 days) of the project period up to now. The evaluation is cached
 *   (default 5 minutes) because it scans that window in SQL, and it never runs on the hot path.
 *
 * Registered consumer systems are those of `http.tokens`, except `dashboard` (the dashboard's own
 * reads are not data use) — see README.md "The access audit".
 */
import { dirname, resolve } from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorText } from '../../../config/errors.js';
import { instantMs } from '../../../verify/calendar.js';
import { DEFAULT_POLICY, loadPolicy, type Policy } from '../../../verify/policy.js';
import { loadProject, type LoadedProject } from '../../../verify/project.js';
import { deviceOut, type ApiContext, type RouteOptions } from '../context.js';
import { errorResponses } from '../schemas.js';

const DAY_MS = 86_400_000;

export const pilotSchema = z.object({
  file: z.string().describe('the project file as listed in http.projects'),
  ok: z.boolean(),
  error: z.string().optional().describe('why the project file could not be read (coded)'),
  details: z.array(z.string()).optional(),
  id: z.string().optional(),
  name: z.string().optional(),
  enterprise: z.string().optional(),
  claim: z.string().optional(),
  pilot: z.boolean().optional(),
  inScope: z.array(z.string()).describe('in-scope device ids of the equipment register'),
  live: z.array(z.string()).describe('in-scope devices live now'),
  missing: z.array(z.string()).describe('in-scope devices the gateway does not collect from'),
  networkingRate: z.number().nullable().describe('live / in-scope now; null without in-scope devices'),
  classification: z
    .enum(['pending', 'full', 'partial', 'none', 'indeterminate'])
    .describe('the verifier\'s preliminary classification; "pending" when it could not run (period not started, error)'),
  evaluation: z
    .object({
      from: z.number().describe('window start, ms'),
      to: z.number().describe('window end, ms'),
      at: z.number().describe('when it was computed (cached)'),
      networkingRate: z.number().nullable().describe("the verifier's networking rate (partial tier: reporting rate >= rMin, signal set, not stale)"),
      networked: z.number(),
      inScope: z.number(),
      readsInWindow: z.number().describe('audited reads of data routes by registered consumer systems'),
      readsBySystem: z.record(z.string(), z.number()),
      unregisteredReads: z.number().describe('audited reads by other systems (dashboard), not counted'),
      nonDataReads: z.number().describe('audited reads of routes that are not data routes (status, audit, pilots...) by registered systems, not counted'),
      failed: z.array(z.string()).describe('rules that failed'),
    })
    .optional(),
  evaluationError: z.string().optional(),
});

export type PilotOut = z.output<typeof pilotSchema>;
type Evaluation = NonNullable<PilotOut['evaluation']>;

interface Evaluated {
  at: number;
  classification: PilotOut['classification'];
  evaluation?: Evaluation;
  error?: string;
}

export interface PilotCache {
  ttlMs: number;
  entries: Map<string, Evaluated>;
}

/** The verifier's window for live monitoring: the last minWindow of the period, up to now. */
export function pilotWindow(period: { from: string; to: string }, policy: Policy, now: number): { from: number; to: number } | undefined {
  const start = instantMs(period.from, policy.offsetMs);
  const end = instantMs(period.to, policy.offsetMs) + DAY_MS;
  const to = Math.min(now, end);
  const from = Math.max(start, to - policy.values.measure.minWindow);
  return to > from ? { from, to } : undefined;
}

async function evaluatePilot(ctx: ApiContext, loaded: LoadedProject, policy: Policy, now: number): Promise<Evaluated> {
  const w = pilotWindow(loaded.project.project.period, policy, now);
  // the period has not started: nothing to evaluate yet
  if (!w) return { at: now, classification: 'pending' };
  const rt = ctx.runtime;
  // the verifier is loaded when a pilot is first evaluated, not at the gateway's start
  const { runVerification } = await import('../../../verify/run.js');
  const r = await runVerification({
    gateways: [{ config: rt.config, ...(rt.configPath ? { path: rt.configPath } : {}), store: rt.store }],
    project: loaded,
    policy,
    from: w.from,
    to: w.to,
    source: { kind: 'store' },
    preliminary: true,
    now,
    header: false,
  });
  return {
    at: now,
    classification: r.classification,
    evaluation: {
      from: w.from,
      to: w.to,
      at: now,
      networkingRate: r.networkingRate.value,
      networked: r.networkingRate.networked,
      inScope: r.networkingRate.inScope,
      readsInWindow: r.dataUse.readsInWindow,
      readsBySystem: r.dataUse.readsBySystem,
      unregisteredReads: r.dataUse.unregisteredReads,
      nonDataReads: r.dataUse.nonDataReads,
      failed: r.rules.filter((x) => x.result === 'fail').map((x) => x.rule),
    },
  };
}

export async function pilotsOf(ctx: ApiContext, cache: PilotCache): Promise<PilotOut[]> {
  const rt = ctx.runtime;
  const base = rt.configPath ? dirname(rt.configPath) : process.cwd();
  const now = rt.clock.now();
  const out: PilotOut[] = [];
  for (const file of rt.config.http.projects) {
    const empty = { file, inScope: [], live: [], missing: [], networkingRate: null, classification: 'pending' as const };
    let loaded: LoadedProject;
    let policy: Policy;
    try {
      loaded = loadProject(resolve(base, file));
      policy = loadPolicy(loaded.project.policy ?? DEFAULT_POLICY, dirname(loaded.path));
    } catch (e) {
      const details = (e as { details?: unknown }).details;
      out.push({ ...empty, ok: false, error: errorText(e), details: Array.isArray(details) ? details.map(String).slice(0, 20) : undefined });
      continue;
    }
    const p = loaded.project;
    const cats = new Set(policy.values.measure.inScopeCategories);
    const inScope = p.equipment.filter((e) => cats.has(e.category) && !e.exempt).map((e) => e.id);
    const live: string[] = [];
    const missing: string[] = [];
    for (const id of inScope) {
      const v = rt.device(id);
      if (!v) missing.push(id);
      else if (deviceOut(ctx, v, now).status.live) live.push(id);
    }
    const row: PilotOut = {
      ...empty,
      ok: true,
      id: p.project.id,
      name: p.project.name,
      enterprise: p.project.enterprise.name,
      claim: p.project.claim,
      pilot: p.project.pilot,
      inScope,
      live,
      missing,
      networkingRate: inScope.length === 0 ? null : live.length / inScope.length,
    };
    const key = loaded.path;
    let ev = cache.entries.get(key);
    if (!ev || now - ev.at >= cache.ttlMs || now < ev.at) {
      try {
        ev = await evaluatePilot(ctx, loaded, policy, now);
      } catch (e) {
        ev = { at: now, classification: 'pending', error: errorText(e) };
      }
      cache.entries.set(key, ev);
    }
    row.classification = ev.classification;
    if (ev.evaluation) row.evaluation = ev.evaluation;
    if (ev.error) row.evaluationError = ev.error;
    out.push(row);
  }
  return out;
}

export const pilotRoutes: FastifyPluginAsyncZod<RouteOptions & { pilotCacheMs?: number }> = async (app, { ctx, pilotCacheMs }) => {
  const cache: PilotCache = { ttlMs: pilotCacheMs ?? 300_000, entries: new Map() };
  app.get('/api/pilots', {
    config: { access: 'read', audit: 'read' },
    schema: {
      tags: ['pilots'],
      summary: "Projects of http.projects with their live networking rate and the verifier's preliminary classification",
      response: { 200: z.object({ pilots: z.array(pilotSchema) }), ...errorResponses },
    },
    handler: async () => ({ pilots: await pilotsOf(ctx, cache) }),
  });
};
