/**
 * The review report of a project for a window, from the hub: the verifier's own entry, given the
 * project folder's files and the hub's InfluxDB (its read credentials, not the gateways' write-only
 * ones), exactly as `fgw verify --source influx --config <gateway config> --project <project.yaml>`
 * would run it — the JSON is the same apart from the generation time.
 *
 * ADAPTER: until verify/run.ts (several gateways per project) lands, this calls the single-gateway
 * verify() of verify/cli.ts, so a project on several gateways is refused here; `reviewReport` is
 * the one function to switch to run.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, GatewayError } from '../../config/errors.js';
import { printPdf, verify, type GatewayConfigLike } from '../../verify/cli.js';
import type { VerifyResult } from '../../verify/evaluate.js';
import type { Lang } from '../../verify/i18n.js';
import { renderHtml } from '../../verify/report-html.js';
import type { HubProjectOk } from './config.js';
import type { HubConfig } from './schema.js';

export interface ReportRequest {
  from: string;
  to: string;
  preliminary: boolean;
}

/** The gateway config as the verifier reads it, with the hub's InfluxDB and credentials. */
function withHubInflux(cfg: GatewayConfigLike, hub: HubConfig): GatewayConfigLike {
  const i = hub.influx;
  return { ...cfg, influx: { url: i.url, database: i.database, measurement: i.measurement, username: i.username, password: i.password } };
}

export async function reviewReport(hub: HubConfig, p: HubProjectOk, req: ReportRequest): Promise<VerifyResult> {
  if (p.gateways.length !== 1) {
    throw new GatewayError(ErrorCodes.USAGE, `project ${p.id} is served by ${p.gateways.length} gateways (${p.gateways.map((g) => g.id).join(', ')}): its review report needs the several-gateway verifier (verify/run.ts), not yet in this build`);
  }
  const g = p.gateways[0]!;
  return verify(
    { config: g.file, project: p.loaded.path, from: req.from, to: req.to, source: 'influx', preliminary: req.preliminary, lang: 'zh', json: '-' },
    withHubInflux(g.config as unknown as GatewayConfigLike, hub),
  );
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
