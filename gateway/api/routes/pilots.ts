/**
 * The pilots view: the projects listed in `http.projects` (project files, relative to the config
 * file) with their live networking rate: in-scope devices of the project's equipment register that
 * are live now / in-scope devices (in scope: the policy's inScopeCategories, not exempt).
 *
 * The classification is "pending": the verifier (verify/) does not export a project evaluation yet;
 * when it does, this route calls it. The live rate here is a monitoring figure, not the verifier's
 * reporting-rate-based networking rate.
 */
import { dirname, resolve } from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorText } from '../../../config/errors.js';
import { loadPolicy, DEFAULT_POLICY } from '../../../verify/policy.js';
import { loadProject } from '../../../verify/project.js';
import { deviceOut, type ApiContext, type RouteOptions } from '../context.js';
import { errorResponses } from '../schemas.js';

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
  classification: z.enum(['pending', 'full', 'partial', 'none', 'indeterminate']).describe('"pending" until the verifier evaluates the project'),
});

export type PilotOut = z.output<typeof pilotSchema>;

export function pilotsOf(ctx: ApiContext): PilotOut[] {
  const rt = ctx.runtime;
  const base = rt.configPath ? dirname(rt.configPath) : process.cwd();
  const now = rt.clock.now();
  return rt.config.http.projects.map((file): PilotOut => {
    const empty = { file, inScope: [], live: [], missing: [], networkingRate: null, classification: 'pending' as const };
    try {
      const loaded = loadProject(resolve(base, file));
      const p = loaded.project;
      const policy = loadPolicy(p.policy ?? DEFAULT_POLICY, dirname(loaded.path));
      const cats = new Set(policy.values.measure.inScopeCategories);
      const inScope = p.equipment.filter((e) => cats.has(e.category) && !e.exempt).map((e) => e.id);
      const live: string[] = [];
      const missing: string[] = [];
      for (const id of inScope) {
        const v = rt.device(id);
        if (!v) missing.push(id);
        else if (deviceOut(ctx, v, now).status.live) live.push(id);
      }
      return {
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
    } catch (e) {
      const details = (e as { details?: unknown }).details;
      return { ...empty, ok: false, error: errorText(e), details: Array.isArray(details) ? details.map(String).slice(0, 20) : undefined };
    }
  });
}

export const pilotRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  app.get('/api/pilots', {
    config: { access: 'read', audit: 'read' },
    schema: {
      tags: ['pilots'],
      summary: 'Projects of http.projects with their live networking rate and preliminary classification',
      response: { 200: z.object({ pilots: z.array(pilotSchema) }), ...errorResponses },
    },
    handler: async () => ({ pilots: pilotsOf(ctx) }),
  });
};
