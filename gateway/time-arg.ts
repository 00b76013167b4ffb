/** Parses a time given on the command line or in a query string: ISO 8601, epoch ms, "now", or "-15m" (relative to now). */
import { parseDuration } from '../config/common.js';

export function parseTimeArg(text: string, now: number = Date.now()): number | undefined {
  const t = text.trim();
  if (t === 'now') return now;
  if (/^-\d/.test(t)) {
    const d = parseDuration(t.slice(1));
    return d === undefined ? undefined : now - d;
  }
  if (/^\d{11,}$/.test(t)) return Number(t);
  if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return undefined;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}
