/** The text of a written value in an audit record (the API's writes and the northbound commands alike). */

/** at most this many characters of a written value go into the audit */
export const AUDIT_VALUE_MAX = 256;

export function valueText(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  return s.length > AUDIT_VALUE_MAX ? `${s.slice(0, AUDIT_VALUE_MAX)}…` : s;
}
