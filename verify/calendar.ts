/**
 * Local days, calendar weeks and instants in the policy's zone (pure). A week is Monday to Sunday
 * (or Sunday to Saturday, `weekStartsOn`) in local time; windows are clipped to whole weeks' parts.
 */
import { localDate } from './local-time.js';
import type { Policy } from './policy.js';

export const DAY_MS = 86_400_000;

export interface Week {
  index: number;
  /** ms, clipped to the window */
  from: number;
  to: number;
  /** local date of the week's first day (YYYY-MM-DD) */
  label: string;
  /**
   * (schema 2) the week keeps at least one expected slot (a slot of an in-scope device that is
   * neither in a planned shutdown nor in its gateway's outage): only judged weeks are held to the
   * weekly rules
   */
  judged?: boolean;
}

/** Local epoch day of an instant. */
export const localDay = (ts: number, offsetMs: number): number => Math.floor((ts + offsetMs) / DAY_MS);

function weekOfDay(day: number, startsOn: 'monday' | 'sunday'): number {
  // 1970-01-01 (day 0) was a Thursday
  return Math.floor((day + (startsOn === 'monday' ? 3 : 4)) / 7);
}

export function weekOf(ts: number, policy: Pick<Policy, 'offsetMs' | 'values'>): number {
  return weekOfDay(localDay(ts, policy.offsetMs), policy.values.weekStartsOn);
}

/** The week index of a local epoch day. */
export function weekOfLocalDay(day: number, policy: Pick<Policy, 'values'>): number {
  return weekOfDay(day, policy.values.weekStartsOn);
}

/** The calendar weeks intersecting [from, to), clipped to it. */
export function weeksOf(from: number, to: number, policy: Pick<Policy, 'offsetMs' | 'values'>): Week[] {
  const out: Week[] = [];
  const shift = policy.values.weekStartsOn === 'monday' ? 3 : 4;
  for (let w = weekOf(from, policy); ; w++) {
    const firstDay = w * 7 - shift;
    const start = firstDay * DAY_MS - policy.offsetMs;
    if (start >= to) break;
    const end = start + 7 * DAY_MS;
    out.push({ index: w, from: Math.max(from, start), to: Math.min(to, end), label: localDate(start, policy.offsetMs) });
  }
  return out;
}

/** Date-only instants are local midnight in the policy's timezone. */
export function instantMs(text: string, offsetMs: number): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return Date.parse(`${text}T00:00:00Z`) - offsetMs;
  return Date.parse(text);
}
