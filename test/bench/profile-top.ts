/**
 * Summarises a V8 CPU profile (`npm run bench -- <scenario> --profile` writes one per gateway
 * process to <out>/profiles/): self time per function and per file, as a share of the busy
 * (non-idle) time of the main thread.
 *
 *   node dist-bench/test/bench/profile-top.js <file.cpuprofile> [top=25]
 */
import { readFileSync } from 'node:fs';

interface Profile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

export function summarise(file: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const short = (url: string) => url.replace(/^.*\/(node_modules\/[^/]+|dist-bench|dist)\//, '$1/');
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, t] of self) {
    const cf = byId.get(id)!.callFrame;
    total += t;
    if (cf.functionName === '(idle)') {
      idle += t;
      continue;
    }
    const k = `${cf.functionName || '(anonymous)'} ${short(cf.url)}:${cf.lineNumber + 1}`;
    fn.set(k, (fn.get(k) ?? 0) + t);
    const f = short(cf.url) || cf.functionName;
    files.set(f, (files.get(f) ?? 0) + t);
  }
  const busy = total - idle;
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)} %`;
  const out = [
    `${file}: ${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)} %)`,
    'self time by function:',
  ];
  for (const [k, t] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`${pct(t)}  ${k}`);
  out.push('self time by file:');
  for (const [k, t] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 12)) out.push(`${pct(t)}  ${k}`);
  return out.join('\n');
}

if (process.argv[1]?.endsWith('profile-top.js') && process.argv[2]) process.stdout.write(`${summarise(process.argv[2], Number(process.argv[3] ?? 25))}\n`);
