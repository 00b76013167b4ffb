/**
 * Times in the report and in evidence texts: always local to the policy's zone, always with the
 * zone written out, never UTC beside local. One place so the JSON evidence, the HTML page and the
 * PDF say the same thing.
 */

/** "+08:00" for 28,800,000 ms. */
export function offsetText(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const min = Math.abs(Math.round(offsetMs / 60_000));
  return `${sign}${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;
}

/** ISO 8601 in the given zone: "2026-10-01T08:00:00+08:00" (milliseconds only when not zero). */
export function isoLocal(ms: number, offsetMs: number): string {
  const d = new Date(ms + offsetMs).toISOString();
  const frac = d.slice(19, 23) === '.000' ? '' : d.slice(19, 23);
  return `${d.slice(0, 19)}${frac}${offsetText(offsetMs)}`;
}

/** For people: "2026-10-01 08:00 +08:00" (seconds when `seconds` or when not zero). */
export function formatLocal(ms: number, offsetMs: number, opts: { seconds?: boolean; zone?: boolean } = {}): string {
  const d = new Date(ms + offsetMs).toISOString();
  const sec = opts.seconds || d.slice(17, 19) !== '00' ? d.slice(16, 19) : '';
  return `${d.slice(0, 10)} ${d.slice(11, 16)}${sec}${opts.zone === false ? '' : ` ${offsetText(offsetMs)}`}`;
}

/** The local calendar date: "2026-10-01". */
export function localDate(ms: number, offsetMs: number): string {
  return new Date(ms + offsetMs).toISOString().slice(0, 10);
}
