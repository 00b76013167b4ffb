/** The Markdown table of a bench report (the README shows the latest). */
import type { BenchReport } from './run.js';

const fmt = (v: number | null | undefined, unit = ''): string => {
  if (v === null || v === undefined) return '—';
  const s = Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
  return unit ? `${s} ${unit}` : s;
};

export function toMarkdown(r: BenchReport): string {
  const m = r.machine as typeof r.machine & { revision?: string };
  const lines: string[] = [];
  lines.push(
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC${r.quick ? ' (quick: not representative)' : ''} on ${m.cores} cores, ${m.cpuModel}, ${m.os}, Node ${m.node}, ${m.influxdb}, ${m.mosquitto}${m.revision ? `, revision ${m.revision}` : ''}.`,
  );
  lines.push(`Load average (1/5/15 min) at start ${r.loadAverage.start.join(' / ')}, at end ${r.loadAverage.end.join(' / ')}. Command: \`${r.command}\`.`);
  lines.push('');
  lines.push('| scenario | figure | value | limit (measured in the same run) | ratio | target | met |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const s of r.scenarios) {
    if (s.error) {
      lines.push(`| ${s.name} | **failed** | ${s.error.split('\n')[0]!.replace(/\|/g, '\\|').slice(0, 200)} | | | | |`);
      continue;
    }
    for (const x of s.metrics) {
      const limit =
        x.limit === undefined ? '' : `${fmt(x.limit, x.name.includes('CPU') && x.unit === 'cores' ? 'core' : x.unit)}${x.limitName ? ` (${x.limitName})` : ''}`;
      const ratio = x.ratio === undefined || x.ratio === null ? '' : `${x.ratio}`;
      const met = x.met === undefined || x.met === null ? '' : x.met ? 'yes' : '**no**';
      lines.push(`| ${s.name} | ${x.name} | ${fmt(x.value, x.unit)} | ${limit} | ${ratio} | ${x.target ?? ''} | ${met} |`);
    }
  }
  lines.push('');
  for (const s of r.scenarios) {
    const notes = [...s.notes];
    if (notes.length === 0 && Object.keys(s.params).length === 0) continue;
    lines.push(
      `- **${s.name}** (${s.title}; window ${s.windowS} s): ${Object.entries(s.params)
        .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join('/') : String(v)}`)
        .join(', ')}.${notes.length ? ` ${notes.join('; ')}.` : ''}`,
    );
  }
  // raw figures per leg, where a scenario has legs (nodered: one row per gateway run)
  for (const s of r.scenarios) {
    const legs = s.series?.legs;
    if (!Array.isArray(legs) || legs.length === 0) continue;
    const keys = Object.keys(legs[0] as Record<string, unknown>);
    lines.push('', `**${s.name}, per leg**`, '', `| ${keys.join(' | ')} |`, `|${keys.map(() => '---').join('|')}|`);
    for (const leg of legs as Array<Record<string, unknown>>)
      lines.push(`| ${keys.map((k) => (typeof leg[k] === 'number' ? fmt(leg[k]) : String(leg[k] ?? ''))).join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}
