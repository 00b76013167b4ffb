/**
 * Points: the rows of layout 5. A point is the readings of one write that share device and ts (one
 * poll of a Modbus device, one MQTT message, the items of one OPC UA publish that share a source
 * timestamp). Its row holds the device, the ts, its shape (the series of its entries, in order,
 * stored once in `shapes`), the number of entries and the values packed by the series' kinds
 * (point-codec.ts). Reading i of a point has seq `point.seq + i`: the readings keep one sequence
 * number each, so the forwarder's cursors, backlogs and drop counts mean what they meant with one
 * row per reading, and a cursor may stop inside a point.
 *
 * Here: the shape cache, the point being built by a commit or an import, a point's readings back,
 * and the SQL that counts a point's readings after a cursor.
 */
import type Database from 'better-sqlite3';
import type { FieldKind, Value } from '../../adapters/types.js';
import type { StoredReading } from '../types.js';
import { decodePoint, encodePoint, kindCounts, type PointEntry } from './point-codec.js';
import { QUALITY_NAME, type SeriesInfo } from './rows.js';

/** a point row as read: seq (of its first reading), dev, ts, shape, n, vals */
export type PointRow = [seq: number, dev: number, ts: number, shape: number, n: number, vals: Uint8Array];
export const POINT_COLUMNS = 'seq, dev, ts, shape, n, vals';

export interface Shape {
  id: number;
  series: readonly number[];
  kinds: readonly FieldKind[];
  /** series id → its entry's index */
  index: ReadonlyMap<number, number>;
  /** its float/integer and boolean entries (exceptionsOf) */
  numCount: number;
  boolCount: number;
}

/**
 * `n` readings of the point at `seq` come after `cursor` when its last seq does: the SQL of that
 * count for a table alias (`p.`) or none, with the cursor as a parameter `?`.
 */
export const afterCursorSql = (alias = ''): string => `max(0, min(${alias}n, ${alias}seq + ${alias}n - 1 - ?))`;

/** the readings of deleted points, from their `n` (DELETE … RETURNING n) */
export const readingsIn = (ns: readonly number[]): number => ns.reduce((a, b) => a + b, 0);

/**
 * A device gets at most this many shapes of more than one series. A source whose writes carry a
 * different set of tags each time (OPC UA reporting only what changed, MQTT messages with optional
 * fields) would otherwise add a shape per combination without end; past the cap such a write is
 * stored as one point per reading (shapes of one series, as many as the device has tags), which
 * costs bytes, never correctness.
 */
export const MAX_SHAPES_PER_DEVICE = 256;

/** The shapes of this file, cached; new ones inserted when a commit needs them. */
export class Shapes {
  private readonly byId = new Map<number, Shape>();
  private readonly byKey = new Map<string, number>();
  /** per device, its shapes of more than one series */
  private readonly multiByDev = new Map<number, number>();
  private maxId = 0;

  constructor(
    private readonly kindOf: (series: number) => FieldKind | undefined,
    private readonly devOf: (series: number) => number | undefined,
  ) {}

  clear(): void {
    this.byId.clear();
    this.byKey.clear();
    this.multiByDev.clear();
    this.maxId = 0;
  }

  get(id: number): Shape | undefined {
    return this.byId.get(id);
  }

  all(): IterableIterator<Shape> {
    return this.byId.values();
  }

  /** reads the shapes added since the last load (by another connection too) */
  load(db: Database.Database): void {
    const rows = db.prepare('SELECT id, series FROM shapes WHERE id > ? ORDER BY id').raw().all(this.maxId) as Array<[number, string]>;
    for (const [id, key] of rows) this.add(id, key);
  }

  /** the shape of these series in this order, inserted when new */
  idOf(db: Database.Database, series: readonly number[]): number {
    const key = series.join(',');
    const hit = this.byKey.get(key);
    if (hit !== undefined) return hit;
    const found = db.prepare('SELECT id FROM shapes WHERE series = ?').pluck().get(key) as number | undefined;
    const id = found ?? Number(db.prepare('INSERT INTO shapes(series) VALUES (?)').run(key).lastInsertRowid);
    this.add(id, key);
    return id;
  }

  /** the ids of the shapes that have at least one of `series` */
  having(series: ReadonlySet<number>): number[] {
    const out: number[] = [];
    for (const s of this.byId.values()) if (s.series.some((id) => series.has(id))) out.push(s.id);
    return out;
  }

  private add(id: number, key: string): void {
    const series = key === '' ? [] : key.split(',').map(Number);
    const kinds = series.map((sid) => this.kindOf(sid) ?? 'float');
    this.byId.set(id, { id, series, kinds, index: new Map(series.map((sid, i) => [sid, i])), ...kindCounts(kinds) });
    this.byKey.set(key, id);
    if (series.length > 1) {
      const dev = this.devOf(series[0]!) ?? 0;
      this.multiByDev.set(dev, (this.multiByDev.get(dev) ?? 0) + 1);
    }
    if (id > this.maxId) this.maxId = id;
  }

  /** whether a point of these series may have a shape of its own (known, or the device is under the cap) */
  mayHave(dev: number, series: readonly number[]): boolean {
    return series.length <= 1 || this.byKey.has(series.join(',')) || (this.multiByDev.get(dev) ?? 0) < MAX_SHAPES_PER_DEVICE;
  }
}

/** The statements that write points: the row, and its (device, shape)'s newest point. */
export function preparePointWrites(db: Database.Database) {
  return {
    insertPoint: db.prepare('INSERT INTO points(seq, dev, ts, shape, n, vals) VALUES (?, ?, ?, ?, ?, ?)'),
    /** a point is the newest of its (device, shape) when none of them has a later ts (a tie goes to the later seq) */
    upsertNewest: db.prepare(
      'INSERT INTO newest_points(dev, shape, seq, ts) VALUES (?, ?, ?, ?) ON CONFLICT(dev, shape) DO UPDATE SET seq = excluded.seq, ts = excluded.ts WHERE excluded.ts >= newest_points.ts',
    ),
  };
}

/**
 * A PointBuilder that writes into the tables (inside the caller's transaction; shapes created as
 * needed): each point as one row with its shape, or, past the device's shape cap, one row per
 * reading (seq, seq + 1, ...); and the newest point of its (device, shape). The commit, an import
 * of salvaged rows and the upgrade from layout 4 all write points through it.
 */
export function pointWriter(db: Database.Database, shapes: Shapes, st: ReturnType<typeof preparePointWrites>): PointBuilder {
  const insert = (seq: number, dev: number, ts: number, shape: Shape, entries: readonly BuiltEntry[]) => {
    st.insertPoint.run(seq, dev, ts, shape.id, entries.length, packPoint(shape, entries));
    st.upsertNewest.run(dev, shape.id, seq, ts);
  };
  return new PointBuilder((seq, dev, ts, entries) => {
    const series = entries.map((e) => e.series);
    if (shapes.mayHave(dev, series)) insert(seq, dev, ts, shapes.get(shapes.idOf(db, series))!, entries);
    else entries.forEach((e, i) => insert(seq + i, dev, ts, shapes.get(shapes.idOf(db, [e.series]))!, [e]));
  });
}

/** One entry of a point being built: its series and what the codec stores for it. */
export interface BuiltEntry {
  series: number;
  entry: PointEntry;
}

/**
 * The point a commit (or an import) is filling: readings join it while they have its device and
 * ts, their seq follows its last, and their series is not in it yet; else it is written and a new
 * one starts.
 */
export class PointBuilder {
  private seq = 0;
  private dev = 0;
  private ts = 0;
  private readonly entries: BuiltEntry[] = [];
  private readonly seen = new Set<number>();
  points = 0;

  constructor(private readonly write: (seq: number, dev: number, ts: number, entries: readonly BuiltEntry[]) => void) {}

  add(seq: number, dev: number, ts: number, series: number, entry: PointEntry): void {
    const n = this.entries.length;
    if (n > 0 && (dev !== this.dev || ts !== this.ts || seq !== this.seq + n || this.seen.has(series))) this.end();
    if (this.entries.length === 0) {
      this.seq = seq;
      this.dev = dev;
      this.ts = ts;
    }
    this.entries.push({ series, entry });
    this.seen.add(series);
  }

  /** writes the point being filled, if any */
  end(): void {
    if (this.entries.length === 0) return;
    this.write(this.seq, this.dev, this.ts, this.entries);
    this.points++;
    this.entries.length = 0;
    this.seen.clear();
  }
}

/** a point's vals from its entries, in the shape's kinds */
function packPoint(shape: Shape, entries: readonly BuiltEntry[]): Uint8Array {
  return encodePoint(
    shape.kinds,
    entries.map((e) => e.entry),
  );
}

/**
 * What the codec stores for a value of a tag of `kind`: numbers (booleans as 1/0) for float and
 * integer, booleans (numbers: not 0) for boolean, text (numbers and booleans as their digits) for
 * string, as the one-row-per-reading layout gave them back. NaN has no value (SQLite stored NULL),
 * -0 is 0. A value of another type is no value, with quality bad and error BAD_VALUE.
 */
export function entryOf(kind: FieldKind, v: unknown, quality: number, error: string | null, tie: number): PointEntry {
  let value: Value | null = null;
  let bad = false;
  if (v === null || v === undefined) value = null;
  else if (kind === 'float' || kind === 'integer') {
    if (typeof v === 'number') value = Number.isNaN(v) ? null : v === 0 ? 0 : v;
    else if (typeof v === 'boolean') value = v ? 1 : 0;
    else bad = true;
  } else if (kind === 'boolean') {
    if (typeof v === 'boolean') value = v;
    else if (typeof v === 'number' && !Number.isNaN(v)) value = v !== 0;
    else bad = true;
  } else if (typeof v === 'string') value = v;
  else if (typeof v === 'number') value = Number.isNaN(v) ? null : String(v === 0 ? 0 : v);
  else if (typeof v === 'boolean') value = v ? '1' : '0';
  else bad = true;
  const out: PointEntry = { value, quality: bad ? 'bad' : (QUALITY_NAME[quality] ?? 'bad') };
  const err = bad ? 'BAD_VALUE' : error;
  if (err !== null) out.error = err;
  if (tie !== 0) out.tie = tie;
  return out;
}

/**
 * The readings of a point (those from `from` on, at most `limit`; in reverse when `desc`) as the
 * store returns them; entries whose series `keep` refuses are left out. A shape or series this
 * connection does not know yet (the caller loads them first) gives no readings.
 */
export function readingsOf(
  row: PointRow,
  shape: Shape | undefined,
  seriesOf: (id: number) => SeriesInfo | undefined,
  opts: { from?: number; keep?: (series: number) => boolean; desc?: boolean; out: StoredReading[]; limit?: number },
): void {
  if (shape === undefined) return;
  const [seq, , ts, , n, vals] = row;
  const entries = decodePoint(shape.kinds, vals);
  const first = Math.max(0, (opts.from ?? seq) - seq);
  const limit = opts.limit ?? Infinity;
  const take = (i: number): boolean => {
    if (opts.out.length >= limit) return false;
    const sid = shape.series[i]!;
    if (opts.keep && !opts.keep(sid)) return true;
    const s = seriesOf(sid);
    if (s === undefined) return true;
    const e = entries[i]!;
    const r: StoredReading = { seq: seq + i, measurement: s.measurement, device: s.device, tag: s.tag, kind: s.kind, ts, value: e.value, quality: e.quality };
    if (e.error !== undefined) r.error = e.error;
    if (e.tie) r.tie = e.tie;
    opts.out.push(r);
    return true;
  };
  if (opts.desc) {
    for (let i = n - 1; i >= first; i--) if (!take(i)) return;
  } else for (let i = first; i < n; i++) if (!take(i)) return;
}
