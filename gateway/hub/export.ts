/**
 * The overview table: one row per project (what /api/projects answers and the page shows), and
 * the same table as CSV (UTF-8 with BOM, so Excel opens Chinese text right) or .xlsx
 * (write-excel-file). Column headers in the page's language; times local to each project's policy.
 */
import writeXlsxFile from 'write-excel-file/node';
import type { Lang } from '../../verify/i18n.js';
import { formatLocal } from '../../verify/local-time.js';
import type { HubProject } from './config.js';
import { headerOf, type Alarm, type ClassificationOrPending, type ProjectFigures } from './figures.js';

export interface OverviewRow {
  ok: boolean;
  folder: string;
  id?: string;
  name?: string;
  enterprise?: string;
  town?: string;
  industry?: string;
  claim?: 'full' | 'partial';
  pilot?: boolean;
  gateways: Array<{ id: string; site?: string; lastHeartbeat?: number; online: boolean }>;
  devices: { live: number; inScope: number };
  /** the verifier's networking rate over the last 30 days (partial tier): the one beside the classification */
  networkingRate: number | null;
  networkingRates: { now: number | null; d7: number | null; d30: number | null };
  /** preliminary classification over the last 30 days, and over the last 7 */
  classification: ClassificationOrPending;
  classification7d: ClassificationOrPending;
  trend: ProjectFigures['trend'];
  alarms: Alarm[];
  /** when the figures were computed */
  at?: number;
  /** the policy's zone offset, for local times */
  offsetMs?: number;
  error?: string;
}

export function overviewRow(p: HubProject, f: (ProjectFigures & { error?: string }) | Error | undefined): OverviewRow {
  const base: OverviewRow = {
    ok: p.ok,
    folder: p.folder,
    ...(p.id !== undefined ? { id: p.id } : {}),
    gateways: [],
    devices: { live: 0, inScope: 0 },
    networkingRate: null,
    networkingRates: { now: null, d7: null, d30: null },
    classification: 'pending',
    classification7d: 'pending',
    trend: null,
    alarms: [],
  };
  if (!p.ok) return { ...base, error: p.error };
  const { id: _id, period: _p, ...head } = headerOf(p);
  Object.assign(base, { ...head, gateways: p.gateways.map((g) => ({ id: g.id, ...(g.site ? { site: g.site } : {}), online: false })) });
  if (f === undefined) return base;
  if (f instanceof Error) return { ...base, error: f.message };
  return {
    ...base,
    gateways: f.gateways.map((g) => ({
      id: g.id,
      ...(g.site ? { site: g.site } : {}),
      ...(g.lastHeartbeat !== undefined ? { lastHeartbeat: g.lastHeartbeat } : {}),
      online: g.online,
    })),
    devices: { live: f.live.live, inScope: f.live.inScope },
    networkingRate: f.d30?.networkingRate ?? null,
    networkingRates: { now: f.live.rate, d7: f.d7?.networkingRate ?? null, d30: f.d30?.networkingRate ?? null },
    classification: f.classification,
    classification7d: f.d7?.classification ?? 'pending',
    trend: f.trend,
    alarms: f.alarms,
    at: f.at,
    ...(f.error ? { error: f.error } : {}),
  };
}

const HEAD: Record<Lang, string[]> = {
  zh: [
    '项目编号',
    '项目名称',
    '企业',
    '乡镇/街道',
    '行业',
    '申报类型',
    '网关（最近心跳）',
    '在线设备',
    '纳入统计设备',
    '当前联网率',
    '近 7 天联网率',
    '近 30 天联网率',
    '初步分类（近 30 天）',
    '初步分类（近 7 天）',
    '趋势',
    '未处理告警',
    '计算时间',
    '错误',
  ],
  en: [
    'Project',
    'Name',
    'Enterprise',
    'Town',
    'Industry',
    'Claim',
    'Gateways (last heartbeat)',
    'Devices live',
    'Devices in scope',
    'Networking rate now',
    'Last 7 days',
    'Last 30 days',
    'Preliminary class (30 days)',
    'Preliminary class (7 days)',
    'Trend',
    'Open alarms',
    'Computed at',
    'Error',
  ],
};

const CLASS: Record<Lang, Record<string, string>> = {
  zh: { full: '无人工厂（车间）', partial: '部分智能化改造', none: '不符合', indeterminate: '无法判定', pending: '待评估' },
  en: { full: 'full', partial: 'partial', none: 'none', indeterminate: 'indeterminate', pending: 'pending' },
};
const CLAIM: Record<Lang, Record<string, string>> = { zh: { full: '无人工厂（车间）', partial: '部分智能化改造' }, en: { full: 'full', partial: 'partial' } };
const TREND: Record<Lang, Record<string, string>> = { zh: { up: '上升', down: '下降', same: '持平' }, en: { up: 'up', down: 'down', same: 'same' } };

type Cell = string | number | null;

/** The table as cells: rates as fractions (0..1), times as local text. */
export function tableCells(rows: readonly OverviewRow[], lang: Lang): Cell[][] {
  const out: Cell[][] = [HEAD[lang]];
  for (const r of rows) {
    const off = r.offsetMs ?? 0;
    out.push([
      r.id ?? r.folder,
      r.name ?? '',
      r.enterprise ?? '',
      r.town ?? '',
      r.industry ?? '',
      r.claim ? CLAIM[lang][r.claim]! : '',
      r.gateways.map((g) => `${g.id} ${g.lastHeartbeat === undefined ? '—' : formatLocal(g.lastHeartbeat, off, { seconds: true })}`).join('; '),
      r.devices.live,
      r.devices.inScope,
      r.networkingRates.now,
      r.networkingRates.d7,
      r.networkingRates.d30,
      CLASS[lang][r.classification] ?? r.classification,
      CLASS[lang][r.classification7d] ?? r.classification7d,
      r.trend ? TREND[lang][r.trend]! : '',
      r.alarms.length,
      r.at === undefined ? '' : formatLocal(r.at, off, { seconds: true }),
      r.error ?? '',
    ]);
  }
  return out;
}

const csvCell = (v: Cell): string => {
  const s = v === null ? '' : typeof v === 'number' ? String(v) : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function exportCsv(rows: readonly OverviewRow[], lang: Lang): string {
  return `\uFEFF${tableCells(rows, lang)
    .map((r) => r.map(csvCell).join(','))
    .join('\r\n')}\r\n`;
}

const RATE_COLUMNS = new Set([9, 10, 11]);

export async function exportXlsx(rows: readonly OverviewRow[], lang: Lang): Promise<Buffer> {
  const cells = tableCells(rows, lang);
  const data = cells.map((r, i) =>
    r.map((v, c) => {
      if (i === 0) return { value: String(v), fontWeight: 'bold' as const };
      if (v === null) return null;
      if (typeof v === 'number') return RATE_COLUMNS.has(c) ? { value: v, type: Number, format: '0.00%' } : { value: v, type: Number };
      return { value: v, type: String };
    }),
  );
  return writeXlsxFile(data as never, { sheet: lang === 'zh' ? '试点项目' : 'Pilot projects', stickyRowsCount: 1 }).toBuffer();
}
