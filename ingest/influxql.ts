/** Quoting for InfluxQL queries (fgw query --source influx, the verifier's InfluxDB backend). */

/** A measurement, tag or field name: double-quoted, with `\` and `"` escaped. */
export const influxIdent = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** A string literal (a tag value in WHERE): single-quoted, with `\` and `'` escaped. */
export const influxString = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
