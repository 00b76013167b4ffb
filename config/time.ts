/**
 * Times given on the command line or in a query string, parsed one way everywhere (fgw query,
 * fgw verify, the API): ISO 8601 with a zone, a date or a date-time without one (taken in the given
 * zone offset, else the machine's), epoch milliseconds, "now", or "-15m" (relative to now).
 */
import { parseDuration } from './common.js';

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * @param offsetMs the zone of times written without one (e.g. +08:00 = 28,800,000); default: the
 *   machine's local zone
 * @returns ms since the epoch, or undefined when the text is not a time
 */
export function parseTimeArg(text: string, now: number = Date.now(), offsetMs?: number): number | undefined {
  const t = text.trim();
  if (t === 'now') return now;
  if (/^-\d/.test(t)) {
    const d = parseDuration(t.slice(1));
    return d === undefined ? undefined : now - d;
  }
  if (/^\d{11,}$/.test(t)) return Number(t);
  const m = ISO.exec(t);
  if (!m) return undefined;
  const [y, mo, d, h = '0', mi = '0', s = '0', frac = ''] = m.slice(1, 8).map((x) => x ?? undefined) as string[];
  if (m[8] && m[4] === undefined) return undefined; // a zone needs a time of day
  const fields = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Math.round(Number(frac || '0') * 1000)] as const;
  const utc = Date.UTC(...fields);
  const back = new Date(utc);
  // 2026-02-30 or 25:00 roll over silently in Date.UTC: refuse them
  if (
    back.getUTCFullYear() !== fields[0] ||
    back.getUTCMonth() !== fields[1] ||
    back.getUTCDate() !== fields[2] ||
    back.getUTCHours() !== fields[3] ||
    back.getUTCMinutes() !== fields[4] ||
    back.getUTCSeconds() !== fields[5]
  )
    return undefined;
  if (m[8]) return m[8] === 'Z' ? utc : utc - (m[8][0] === '-' ? -1 : 1) * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60_000;
  const off = offsetMs ?? -new Date(utc).getTimezoneOffset() * 60_000;
  return utc - off;
}
