/**
 * What `fgw store salvage <file> --config <gateway.yaml> [--json] [--force]` (gateway/cli/store.ts)
 * does: reads every readable row of a damaged store file (ingest/recover.ts, no SQLite involved)
 * into the live store of the config, and says what it recovered and what it could not.
 *
 * - Readings, audit records, dead letters and loss episodes are imported. Readings whose series row
 *   is lost are named by the series' unique index when that survived; the rest are counted as
 *   "series unknown". Readings older than storage.retention are not imported (retention would drop
 *   them at once) and are counted.
 * - A file of store layout 5 keeps one row per point (`points`: the readings of one write sharing
 *   device and ts, their series listed once in `shapes`, their values in one blob,
 *   ingest/store/point-codec.ts). Each point is expanded into its readings, in entry order: reading i
 *   has seq `seq + i`. A point whose shape (or the series of one of its entries, whose kind the blob
 *   needs) is lost counts its readings as "series unknown"; one whose blob does not decode counts
 *   them as undecodable. shapes' unique index fills what the table lost, as series' does. A file with
 *   both tables (not written by fgw) gives the readings of both.
 * - What the damaged file's forwarder had sent (its cursor, when its meta row is readable) goes in as
 *   local history and is not sent again; the rest is forwarded like any backlog.
 * - Each reading keeps its tie (the file's `tie` column, 0 in a file from before it; in layout 5
 *   its entry's), so two salvaged readings of one series in one ms stay two InfluxDB points and
 *   what InfluxDB had is where it was. A backlog reading whose tie the live store already has (another reading of the
 *   file's, as ties of a file from before the column all are 0, or the gateway wrote that series in
 *   that ms meanwhile) gets the next free one, as the upgrade to layout 3 ranks such a backlog.
 * - How far the file was read is saved in the live store with each chunk (salvageProgress): a
 *   salvage run again after it stopped on a full store or was killed imports only the rows it had
 *   not, so it neither doubles rows nor sends a reading twice under another tie.
 * - The gateway may keep running meanwhile: the import goes in chunks of IMPORT_CHUNK rows, each
 *   its own short transaction, and the gateway notices the new rows (PRAGMA data_version) and
 *   continues its sequence above them.
 * - A file already salvaged into this store is refused unless --force (which imports what is missing).
 */
import type { FieldKind } from '../adapters/types.js';
import { Recovery, SERIES_INDEX, SHAPES_INDEX, type RecoverReport, type SqlValue } from './recover.js';
import { decodePoint } from './store/point-codec.js';
import type { LossReason, Measurement, RecoveredAudit, RecoveredBatch, RecoveredReading, SalvageStore } from './types.js';

const IMPORT_CHUNK = 10_000;

export interface SalvageResult {
  file: string;
  store: string;
  recovery: RecoverReport;
  /** the damaged file's own count of readings (meta), when readable */
  expectedReadings?: number;
  readings: {
    read: number;
    imported: number;
    history: number;
    backlog: number;
    already: number;
    unknownSeries: number;
    /** readings of points whose values blob does not decode (or does not hold the shape's n entries) */
    undecodable: number;
    olderThanRetention: number;
    notImportedFull: number;
  };
  audits: { read: number; imported: number };
  deadLetters: { read: number; imported: number };
  losses: { read: number; imported: number };
  /** what the damaged file's cursors were, when its meta rows are readable */
  cursor: { readings?: number; audit?: number };
}

const KINDS: readonly FieldKind[] = ['float', 'integer', 'boolean', 'string'];
const LOSS_REASONS: readonly LossReason[] = ['store-full', 'store-error', 'maxSize', 'retention'];

const num = (v: SqlValue | undefined): number | undefined => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined);
const str = (v: SqlValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** Reads `file` and imports what it holds into `store`. */
export function salvageInto(file: string, store: SalvageStore, opts: { retentionMs: number; now: number; storePath: string }): SalvageResult {
  const rec = new Recovery(file);
  try {
    // meta: the damaged file's cursors and its own count
    const meta = new Map<string, SqlValue>();
    for (const r of rec.rows('meta')) if (typeof r.values[0] === 'string') meta.set(r.values[0], r.values[1] ?? null);
    const cursor: SalvageResult['cursor'] = {};
    const cr = num(meta.get('cursor:readings'));
    const ca = num(meta.get('cursor:audit'));
    if (cr !== undefined) cursor.readings = cr;
    if (ca !== undefined) cursor.audit = ca;

    // series: the table, with its unique index filling what the table lost
    const series = new Map<number, { measurement: Measurement; device: string; tag: string; kind: FieldKind }>();
    const addSeries = (
      id: number | undefined,
      m: SqlValue | undefined,
      device: SqlValue | undefined,
      tag: SqlValue | undefined,
      kind: SqlValue | undefined,
    ) => {
      if (id === undefined || (m !== 'data' && m !== 'status') || typeof device !== 'string' || typeof tag !== 'string' || !KINDS.includes(kind as FieldKind))
        return;
      if (!series.has(id)) series.set(id, { measurement: m, device, tag, kind: kind as FieldKind });
    };
    for (const r of rec.rows('series')) addSeries(r.rowid, r.values[1], r.values[2], r.values[3], r.values[4]);
    for (const r of rec.rows(SERIES_INDEX)) addSeries(num(r.values[4]), r.values[0], r.values[1], r.values[2], r.values[3]);

    const result: SalvageResult = {
      file,
      store: opts.storePath,
      recovery: rec.report,
      readings: { read: 0, imported: 0, history: 0, backlog: 0, already: 0, unknownSeries: 0, undecodable: 0, olderThanRetention: 0, notImportedFull: 0 },
      audits: { read: 0, imported: 0 },
      deadLetters: { read: 0, imported: 0 },
      losses: { read: 0, imported: 0 },
      cursor,
    };
    const expected = num(meta.get('count:readings'));
    if (expected !== undefined) result.expectedReadings = expected;

    const anchor = store.historyAnchor();
    const base: Omit<RecoveredBatch, 'readings'> = { anchor, cursor };
    // an earlier run of this file got this far (the reader gives the same rows in the same order)
    const before = store.salvageProgress(file);
    /** readings read so far (rows of `readings`, then entries of `points`), imported or not */
    let at = 0;
    const cutoff = opts.retentionMs > 0 ? opts.now - opts.retentionMs : Number.NEGATIVE_INFINITY;
    let chunk: RecoveredReading[] = [];
    let full = false;
    const flush = () => {
      if (chunk.length === 0) return;
      if (full) {
        result.readings.notImportedFull += chunk.length;
        chunk = [];
        return;
      }
      const r = store.importRecovered({ ...base, readings: chunk, progress: { file, done: { readings: at } } });
      if (r.full) {
        full = true;
        result.readings.notImportedFull += chunk.length;
      } else {
        result.readings.imported += r.readings;
        result.readings.history += r.history;
        result.readings.backlog += r.readings - r.history;
      }
      chunk = [];
    };
    /** one reading read (`at` counts it, imported or not): false when it is skipped as already imported or too old */
    const take = (ts: number): boolean => {
      if (at <= before.readings) {
        result.readings.already++;
        return false;
      }
      if (ts < cutoff) {
        result.readings.olderThanRetention++;
        return false;
      }
      return true;
    };
    for (const r of rec.rows('readings')) {
      result.readings.read++;
      at++;
      const v = r.values;
      const s = series.get(num(v[1]) ?? -1);
      const ts = num(v[2]);
      if (!s || ts === undefined || r.rowid === undefined) {
        result.readings.unknownSeries++;
        continue;
      }
      if (!take(ts)) continue;
      const value = typeof v[3] === 'number' ? v[3] : typeof v[3] === 'bigint' ? Number(v[3]) : null;
      // a file from before the tie column (or a row written before it was added) has tie 0
      const tie = num(v[8]) ?? 0;
      chunk.push({ ...s, ts, value, text: str(v[4]) ?? null, quality: num(v[5]) ?? 2, error: str(v[6]) ?? null, oldSeq: r.rowid, tie });
      if (chunk.length >= IMPORT_CHUNK) flush();
    }
    // layout 5: a point's readings, in entry order. Without its shape, or the series (and so the
    // kind) of any of its entries, its values cannot be told apart: all its readings are unknown.
    const shapes = new Map<number, number[]>();
    const addShape = (id: number | undefined, text: SqlValue | undefined) => {
      if (id === undefined || typeof text !== 'string' || !/^\d+(,\d+)*$/.test(text) || shapes.has(id)) return;
      shapes.set(id, text.split(',').map(Number));
    };
    for (const r of rec.rows('shapes')) addShape(r.rowid, r.values[1]);
    for (const r of rec.rows(SHAPES_INDEX)) addShape(num(r.values[1]), r.values[0]);
    for (const r of rec.rows('points')) {
      const v = r.values;
      const n = Math.max(0, num(v[4]) ?? 0);
      result.readings.read += n;
      const ts = num(v[2]);
      const ids = shapes.get(num(v[3]) ?? -1);
      const of = ids?.map((id) => series.get(id));
      if (!of || ts === undefined || r.rowid === undefined || of.some((s) => s === undefined)) {
        at += n;
        result.readings.unknownSeries += n;
        continue;
      }
      let entries: ReturnType<typeof decodePoint> | undefined;
      try {
        if (of.length === n && Buffer.isBuffer(v[5]))
          entries = decodePoint(
            of.map((s) => s!.kind),
            v[5],
          );
      } catch {
        entries = undefined;
      }
      if (!entries) {
        at += n;
        result.readings.undecodable += n;
        continue;
      }
      for (let i = 0; i < n; i++) {
        at++;
        if (!take(ts)) continue;
        const e = entries[i]!;
        const value = typeof e.value === 'number' ? e.value : typeof e.value === 'boolean' ? (e.value ? 1 : 0) : null;
        const text = typeof e.value === 'string' ? e.value : null;
        const quality = e.quality === 'good' ? 0 : e.quality === 'uncertain' ? 1 : 2;
        chunk.push({ ...of[i]!, ts, value, text, quality, error: e.error ?? null, oldSeq: r.rowid + i, tie: e.tie ?? 0 });
        if (chunk.length >= IMPORT_CHUNK) flush();
      }
    }
    flush();

    const audits: RecoveredAudit[] = [];
    for (const r of rec.rows('audit')) {
      result.audits.read++;
      const v = r.values;
      const [ts, actor, system, action, route, device, tag, value, res, detail] = [
        num(v[1]),
        str(v[2]),
        str(v[3]),
        v[4],
        str(v[5]),
        str(v[6]),
        str(v[7]),
        str(v[8]),
        v[9],
        str(v[10]),
      ];
      if (
        r.rowid === undefined ||
        ts === undefined ||
        !actor ||
        !system ||
        (action !== 'read' && action !== 'write') ||
        !route ||
        (res !== 'ok' && res !== 'denied' && res !== 'error') ||
        ts < cutoff
      )
        continue;
      audits.push({
        ts,
        actor,
        system,
        action,
        route,
        result: res,
        oldSeq: r.rowid,
        ...(device ? { device } : {}),
        ...(tag ? { tag } : {}),
        ...(value ? { value } : {}),
        ...(detail ? { detail } : {}),
      });
    }
    const deadLetters: NonNullable<RecoveredBatch['deadLetters']> = [];
    for (const r of rec.rows('dead_letters')) {
      result.deadLetters.read++;
      const v = r.values;
      const [ts, source, device, topic, reason, detail, payload] = [num(v[1]), str(v[2]), str(v[3]), str(v[4]), str(v[5]), str(v[6]), str(v[7])];
      if (ts === undefined || !source || !reason || ts < cutoff) continue;
      deadLetters.push({
        ts,
        source,
        reason,
        ...(device ? { device } : {}),
        ...(topic ? { topic } : {}),
        ...(detail ? { detail } : {}),
        ...(payload ? { payload } : {}),
      });
    }
    const losses: NonNullable<RecoveredBatch['losses']> = [];
    for (const r of rec.rows('losses')) {
      result.losses.read++;
      const v = r.values;
      const [device, reason, from, to, count] = [str(v[1]), v[2], num(v[3]), num(v[4]), num(v[5])];
      if (!device || !LOSS_REASONS.includes(reason as LossReason) || from === undefined || to === undefined || count === undefined) continue;
      losses.push({ device, reason: reason as LossReason, from, to, count });
    }
    for (let i = 0; i < Math.max(audits.length, deadLetters.length, losses.length); i += IMPORT_CHUNK) {
      if (i < before.other) continue; // imported by an earlier run (chunks are whole transactions)
      const r = store.importRecovered({
        ...base,
        audits: audits.slice(i, i + IMPORT_CHUNK),
        deadLetters: deadLetters.slice(i, i + IMPORT_CHUNK),
        losses: losses.slice(i, i + IMPORT_CHUNK),
        progress: { file, done: { other: i + IMPORT_CHUNK } },
      });
      result.audits.imported += r.audits;
      result.deadLetters.imported += r.deadLetters;
      result.losses.imported += r.losses;
    }
    store.recordSalvage(file, { readings: result.readings.imported, audits: result.audits.imported, deadLetters: result.deadLetters.imported });
    return result;
  } finally {
    rec.close();
  }
}

const fmt = (n: number) => n.toLocaleString('en-US');

export function salvageText(r: SalvageResult): string[] {
  const rep = r.recovery;
  const lines = [`salvage of ${r.file} into the store in ${r.store}`];
  lines.push(
    `  file: ${fmt(rep.pages)} pages of ${rep.pageSize} bytes${rep.headerOk ? '' : ' (header damaged: page size guessed)'}${rep.schemaOk ? '' : ' (schema lost: tables recognised by the shape of their rows)'}, ${fmt(rep.walFrames)} WAL frames read`,
  );
  lines.push(`  damaged: ${fmt(rep.damagedPages)} pages could not be read (skipped with the rows on them), ${fmt(rep.badCells)} damaged rows skipped`);
  const rd = r.readings;
  const of =
    r.expectedReadings !== undefined ? ` of ${fmt(r.expectedReadings)} the file counted (${fmt(Math.max(0, r.expectedReadings - rd.read))} not readable)` : '';
  lines.push(
    `  readings: ${fmt(rd.read)} read${of}; ${fmt(rd.imported)} imported: ${fmt(rd.history)} as history (InfluxDB had them), ${fmt(rd.backlog)} as backlog (forwarded to InfluxDB)`,
  );
  if (rd.already > 0) lines.push(`  already imported by an earlier salvage of this file: ${fmt(rd.already)} readings (skipped)`);
  if (rd.unknownSeries > 0) lines.push(`  not imported: ${fmt(rd.unknownSeries)} readings whose series (device and tag) is lost`);
  if (rd.undecodable > 0) lines.push(`  not imported: ${fmt(rd.undecodable)} readings whose stored values are damaged (they do not decode)`);
  if (rd.olderThanRetention > 0) lines.push(`  not imported: ${fmt(rd.olderThanRetention)} readings older than storage.retention`);
  if (rd.notImportedFull > 0)
    lines.push(
      `  not imported: ${fmt(rd.notImportedFull)} readings: the live store is full (free space, or raise storage.maxSize, and run again with --force)`,
    );
  lines.push(
    `  audits: ${fmt(r.audits.imported)} of ${fmt(r.audits.read)} read; dead letters: ${fmt(r.deadLetters.imported)} of ${fmt(r.deadLetters.read)}; loss episodes: ${fmt(r.losses.imported)} of ${fmt(r.losses.read)}`,
  );
  if (r.cursor.readings === undefined)
    lines.push("  the file's forwarder cursor is unreadable: every reading is forwarded again (InfluxDB keeps one point per series and time)");
  return lines;
}
