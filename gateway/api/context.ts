/**
 * What every route plugin gets: the runtime (the only way to devices, store and config) and the
 * API's options, resolved once in buildServer.
 */
import { redactText } from '../../config/redact.js';
import type { Runtime, DeviceView } from '../types.js';
import { liveness, type StalePolicy } from './live.js';
import type { z } from 'zod';
import type { deviceSchema } from './schemas.js';

export interface ApiContext {
  runtime: Runtime;
  stale: StalePolicy;
}

export interface RouteOptions {
  ctx: ApiContext;
}

export type DeviceOut = z.output<typeof deviceSchema>;

/** A device view as the API shows it: whitelisted config fields, status and liveness. */
export function deviceOut(ctx: ApiContext, v: DeviceView, now: number): DeviceOut {
  const c = v.config;
  const s = v.status;
  const l = liveness(c, s, now, ctx.runtime.startedAt, ctx.stale);
  return {
    id: c.id,
    name: c.name,
    line: c.line,
    process: c.process,
    protocol: c.protocol,
    interval: c.interval,
    enabled: c.enabled,
    tags: c.tags.map((t) => ({ name: t.name, role: t.role, unit: t.unit, description: t.description, writable: t.writable, min: t.min, max: t.max })),
    status: {
      connected: s.connected,
      live: l.live,
      silent: l.silent,
      silentForMs: l.silentForMs,
      staleAfterMs: l.staleAfterMs,
      lastReadingAt: s.lastReadingAt,
      lastError: s.lastError === undefined ? undefined : redactText(s.lastError),
      lastErrorAt: s.lastErrorAt,
      good: s.good,
      bad: s.bad,
      cycleMs: s.cycleMs,
      pollsLate: s.pollsLate,
      pollsSkipped: s.pollsSkipped,
      demoted: s.demoted === true,
    },
  };
}
