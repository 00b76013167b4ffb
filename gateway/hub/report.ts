/**
 * The review report of a project for a window, from the hub: the verifier's own entry
 * (verify/run.ts), given the project folder's files (every gateway config of the project: each
 * device's outages are its own gateway's) and the hub's InfluxDB (its read credentials, not the
 * gateways' write-only ones).
 *
 * The header says honestly what made it: `report.source.hub` names the hub and its hub.yaml, and
 * `report.command` is the equivalent `fgw verify --source influx --config <each gateway config>
 * --project <project.yaml> --from <ms> --to <ms> [--preliminary] --json <id>.json` (the window as
 * resolved epoch ms). That command, run against the same database with read credentials, gives the
 * same JSON apart from `report.generatedAt`, `report.command`, `report.cwd` and `report.source.hub`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printPdf } from '../../verify/pdf.js';
import type { VerifyResult } from '../../verify/evaluate.js';
import type { Lang } from '../../verify/i18n.js';
import { renderHtml } from '../../verify/report-html.js';
import { parseWindowTime, runVerification } from '../../verify/run.js';
import type { HubProjectOk, LoadedHub } from './config.js';

export interface ReportRequest {
  from: string;
  to: string;
  preliminary: boolean;
}

/** The `fgw verify` command equivalent to a hub report (arguments after `fgw`). */
export function equivalentCommand(p: HubProjectOk, from: number, to: number, preliminary: boolean): string[] {
  return [
    'verify',
    ...p.gateways.flatMap((g) => ['--config', g.file]),
    '--project',
    p.loaded.path,
    '--from',
    String(from),
    '--to',
    String(to),
    '--source',
    'influx',
    ...(preliminary ? ['--preliminary'] : []),
    '--json',
    `${p.id}.json`,
  ];
}

export async function reviewReport(hub: LoadedHub, p: HubProjectOk, req: ReportRequest, now = Date.now()): Promise<VerifyResult> {
  const i = hub.config.influx;
  const from = parseWindowTime(req.from, p.policy.offsetMs, 'querystring.from', now);
  const to = parseWindowTime(req.to, p.policy.offsetMs, 'querystring.to', now);
  return runVerification({
    gateways: p.gateways.map((g) => ({ config: g.config, path: g.file })),
    project: p.loaded,
    policy: p.policy,
    from,
    to,
    source: {
      kind: 'influx',
      url: i.url,
      database: i.database,
      measurement: i.measurement,
      ...(i.username ? { username: i.username } : {}),
      ...(i.password ? { password: i.password } : {}),
    },
    preliminary: req.preliminary,
    command: equivalentCommand(p, from, to, req.preliminary),
    hub: { id: hub.config.hub.id, config: hub.path },
    now,
  });
}

export function reportHtml(result: VerifyResult, lang: Lang): string {
  return renderHtml(result, lang);
}

/** The report as PDF bytes (headless Chromium, like `fgw verify --pdf`). */
export async function reportPdf(result: VerifyResult, lang: Lang): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'fgw-hub-pdf-'));
  try {
    const file = join(dir, 'report.pdf');
    await printPdf(renderHtml(result, lang), file);
    return readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
