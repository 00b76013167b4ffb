/**
 * Reads what can be read from a damaged SQLite file, without SQLite: the file format
 * (https://www.sqlite.org/fileformat2.html) parsed page by page, with `.recover`'s semantics: every
 * readable row of every table, damaged pages skipped. better-sqlite3's SQLite has no recovery
 * extension (sqlite3_recover is not in the amalgamation) and the sqlite3 shell may not be on an
 * edge box, so fgw carries its own reader (`fgw store salvage`, ingest/salvage.ts).
 *
 * How
 * - Pages come from the main file, overridden by the committed frames of its WAL (`<file>-wal`,
 *   checksums and salts checked, frames after the last commit ignored), so what a crash left in the
 *   WAL is read too.
 * - The header gives the page size; a damaged header's page size is guessed (the size at which
 *   most pages look like b-tree pages).
 * - The schema (page 1's tree) names each table's root page. Each tree is walked from its root;
 *   a page that does not parse is counted damaged and skipped with what hangs below it. Leaf pages
 *   that no walk reached (below a damaged interior page, or every page when the schema itself is
 *   lost) are attributed by the shape of their records to the fgw table they fit, when exactly one
 *   does. Pages on the freelist (when the header still says where it is) are never read as rows.
 * - Both store layouts are known: `readings` (one row per reading, schema 1-4) and `points` with
 *   their `shapes` (one row per point, schema 5; ingest/salvage.ts expands them into readings).
 *   The record shapes of fgw's tables are disjoint, so an orphan page fits one table at most; a
 *   sound schema of one layout is not searched for the other's tables.
 * - Rows are decoded cell by cell; a cell that does not parse (or whose overflow chain breaks) is
 *   counted and skipped, the rest of its page is kept.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export type SqlValue = null | number | bigint | string | Buffer;

const MAGIC = 'SQLite format 3\u0000';
const PAGE_SIZES = [4096, 1024, 2048, 8192, 16384, 32768, 65536, 512];

/** fgw's tables: column names in storage order (the rowid alias first, as NULL in the record) */
export const FGW_TABLES: Record<string, { columns: string[]; rowid: boolean; shape?: (v: SqlValue[]) => boolean }> = {
  /**
   * Layout 1 rows have 7 values, layout 2 adds dev, layout 3 tie. A row written before an ALTER TABLE
   * ADD COLUMN keeps its shorter record (SQLite fills the default when reading it): in a layout-3+
   * file an 8-value row has tie 0.
   */
  readings: {
    columns: ['seq', 'series', 'ts', 'value', 'text', 'quality', 'error', 'dev', 'tie'],
    rowid: true,
    shape: (v) =>
      v.length >= 7 &&
      v.length <= 9 &&
      v[0] === null &&
      isInt(v[1]) &&
      isInt(v[2]) &&
      (v[3] === null || typeof v[3] === 'number' || typeof v[3] === 'bigint') &&
      (v[4] === null || typeof v[4] === 'string') &&
      isInt(v[5]) &&
      Number(v[5]) >= 0 &&
      Number(v[5]) <= 2 &&
      (v[6] === null || typeof v[6] === 'string') &&
      (v.length < 8 || isInt(v[7])) &&
      (v.length < 9 || (isInt(v[8]) && Number(v[8]) >= 0)),
  },
  series: {
    columns: ['id', 'measurement', 'device', 'tag', 'kind', 'dev'],
    rowid: true,
    shape: (v) =>
      (v.length === 6 || v.length === 5) &&
      v[0] === null &&
      (v[1] === 'data' || v[1] === 'status') &&
      typeof v[2] === 'string' &&
      typeof v[3] === 'string' &&
      typeof v[4] === 'string' &&
      (v.length === 5 || isInt(v[5])),
  },
  devices: {
    columns: ['id', 'measurement', 'device'],
    rowid: true,
    shape: (v) => v.length === 3 && v[0] === null && (v[1] === 'data' || v[1] === 'status') && typeof v[2] === 'string',
  },
  latest: { columns: ['series', 'seq', 'ts'], rowid: true, shape: (v) => v.length === 3 && v[0] === null && isInt(v[1]) && isInt(v[2]) },
  audit: {
    columns: ['seq', 'ts', 'actor', 'system', 'action', 'route', 'device', 'tag', 'value', 'result', 'detail'],
    rowid: true,
    shape: (v) =>
      v.length === 11 &&
      v[0] === null &&
      isInt(v[1]) &&
      typeof v[2] === 'string' &&
      (v[4] === 'read' || v[4] === 'write') &&
      typeof v[5] === 'string' &&
      typeof v[9] === 'string',
  },
  dead_letters: {
    columns: ['id', 'ts', 'source', 'device', 'topic', 'reason', 'detail', 'payload'],
    rowid: true,
    shape: (v) => v.length === 8 && v[0] === null && isInt(v[1]) && typeof v[2] === 'string' && typeof v[5] === 'string',
  },
  losses: {
    columns: ['id', 'device', 'reason', 'from_ts', 'to_ts', 'count', 'open'],
    rowid: true,
    shape: (v) => v.length === 7 && v[0] === null && typeof v[1] === 'string' && typeof v[2] === 'string' && isInt(v[3]) && isInt(v[4]) && isInt(v[5]),
  },
  sqlite_sequence: { columns: ['name', 'seq'], rowid: true },
  /**
   * Layout 5: one row per point (the readings of one write sharing device and ts). Reading i of a
   * point has seq `seq + i`, the i-th series of its shape, and the i-th entry of `vals`
   * (ingest/store/point-codec.ts).
   */
  points: {
    columns: ['seq', 'dev', 'ts', 'shape', 'n', 'vals'],
    rowid: true,
    shape: (v) => v.length === 6 && v[0] === null && isInt(v[1]) && isInt(v[2]) && isInt(v[3]) && isInt(v[4]) && Number(v[4]) >= 1 && Buffer.isBuffer(v[5]),
  },
  /** layout 5: a point's series ids in entry order, comma-separated */
  shapes: { columns: ['id', 'series'], rowid: true, shape: (v) => v.length === 2 && v[0] === null && isShapeText(v[1]) },
  /** WITHOUT ROWID: an index b-tree of (key, value); no key is a list of ids, which a shapes index record starts with */
  meta: { columns: ['key', 'value'], rowid: false, shape: (v) => v.length === 2 && typeof v[0] === 'string' && !isShapeText(v[0]) },
  /** series' unique index (measurement, device, tag, kind, rowid): it can stand in for the table */
  sqlite_autoindex_series_1: {
    columns: ['measurement', 'device', 'tag', 'kind', 'rowid'],
    rowid: false,
    shape: (v) =>
      v.length === 5 &&
      (v[0] === 'data' || v[0] === 'status') &&
      typeof v[1] === 'string' &&
      typeof v[2] === 'string' &&
      typeof v[3] === 'string' &&
      isInt(v[4]),
  },
  /** shapes' unique index (series, rowid): it can stand in for the table */
  sqlite_autoindex_shapes_1: { columns: ['series', 'rowid'], rowid: false, shape: (v) => v.length === 2 && isShapeText(v[0]) && isInt(v[1]) },
};
export const SERIES_INDEX = 'sqlite_autoindex_series_1';
export const SHAPES_INDEX = 'sqlite_autoindex_shapes_1';
/** the tables of one layout only: in a file whose schema names the other layout's table they are not searched for */
const LAYOUT_5_ONLY = new Set(['points', 'shapes', SHAPES_INDEX]);

function isInt(v: SqlValue | undefined): boolean {
  return typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
}

/** `12,13,14`: a shapes row's series ids */
function isShapeText(v: SqlValue | undefined): boolean {
  return typeof v === 'string' && /^\d+(,\d+)*$/.test(v);
}

export interface RecoverReport {
  file: string;
  pageSize: number;
  /** pages in the database (file and WAL) */
  pages: number;
  headerOk: boolean;
  schemaOk: boolean;
  /** committed WAL frames read */
  walFrames: number;
  /** pages a tree pointed to that did not parse (garbage, or past the end of a truncated file) */
  damagedPages: number;
  /** cells that did not parse (or whose overflow chain broke) */
  badCells: number;
  /** per table: rows read, and leaf pages found by shape rather than from the tree */
  tables: Record<string, { rows: number; orphanPages: number }>;
}

interface PageInfo {
  type: number;
  cells: number[];
  /** interior pages: the right-most child */
  right?: number;
  hdr: number;
}

export class Recovery {
  readonly report: RecoverReport;
  private readonly fd: number;
  private readonly fileBytes: number;
  private pageSize = 4096;
  private usable = 4096;
  private encoding: 'utf8' | 'utf16le' | 'utf16be' = 'utf8';
  private readonly wal = new Map<number, Buffer>();
  private pageCount = 0;
  private readonly free = new Set<number>();
  /** page → 1 + index into `names` of its table (or index), 0 for none: tree walks and orphans */
  private owner = new Uint16Array(0);
  private readonly names: string[] = [];
  /** per table: leaf pages from its tree, and orphan leaf pages given to it by their shape */
  private readonly leaves = new Map<string, { tree: number[]; orphans: number[] }>();
  private readonly roots = new Map<string, { type: string; root: number }>();
  private readonly cache = new Map<number, Buffer>();

  constructor(readonly file: string) {
    this.fd = openSync(file, 'r');
    this.fileBytes = fstatSync(this.fd).size;
    this.report = { file, pageSize: 0, pages: 0, headerOk: false, schemaOk: false, walFrames: 0, damagedPages: 0, badCells: 0, tables: {} };
    try {
      this.readHeader();
      this.readWal(`${file}-wal`);
      this.report.pageSize = this.pageSize;
      this.pageCount = Math.max(this.pageCount, Math.floor(this.fileBytes / this.pageSize));
      this.report.pages = this.pageCount;
      this.owner = new Uint16Array(this.pageCount + 1);
      this.readFreelist();
      this.readSchema();
      this.walkTrees();
      this.adoptOrphans();
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  /** names of the tables and indexes found (from the schema, or fgw's names for orphans) */
  objects(): string[] {
    return [...this.leaves.keys()];
  }

  /** whether the tree of `name` lost pages (rows below them were searched for among orphans) */
  lostPages(name: string): boolean {
    return this.damaged.has(name);
  }

  // ---------------------------------------------------------------- the file

  private readHeader(): void {
    const h = Buffer.alloc(100);
    readSync(this.fd, h, 0, 100, 0);
    if (h.toString('latin1', 0, 16) === MAGIC) {
      const raw = h.readUInt16BE(16);
      const ps = raw === 1 ? 65536 : raw;
      if (PAGE_SIZES.includes(ps)) {
        this.report.headerOk = true;
        this.pageSize = ps;
        this.usable = ps - h[20]!;
        const enc = h.readUInt32BE(56);
        this.encoding = enc === 2 ? 'utf16le' : enc === 3 ? 'utf16be' : 'utf8';
        const pages = h.readUInt32BE(28);
        if (pages > 0 && h.readUInt32BE(24) === h.readUInt32BE(92)) this.pageCount = pages;
        return;
      }
    }
    this.pageSize = this.guessPageSize();
    this.usable = this.pageSize;
  }

  /**
   * The page size of a file whose header is lost: at the true size, pages start like b-tree pages;
   * at a smaller one most offsets fall inside pages; a multiple of it also lands on page starts, so
   * the smallest size at which nearly as many pages parse as at the best one is the page size.
   */
  private guessPageSize(): number {
    const share = new Map<number, number>();
    for (const ps of [...PAGE_SIZES].sort((a, b) => a - b)) {
      const n = Math.min(400, Math.floor(this.fileBytes / ps));
      let score = 0;
      const b = Buffer.alloc(ps);
      this.pageSize = ps;
      this.usable = ps;
      this.pageCount = Math.floor(this.fileBytes / ps);
      for (let i = 1; i < n; i++) {
        readSync(this.fd, b, 0, ps, i * ps);
        if (this.parsePage(b, 0) !== undefined) score++;
      }
      share.set(ps, n > 1 ? score / (n - 1) : 0);
    }
    this.pageCount = 0;
    const best = Math.max(...share.values());
    for (const [ps, v] of share) if (v >= 0.9 * best) return ps;
    return 4096;
  }

  /** committed frames of the WAL, checked frame by frame; the newest copy of each page wins */
  private readWal(path: string): void {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return;
    }
    try {
      const size = fstatSync(fd).size;
      if (size < 32) return;
      const hdr = Buffer.alloc(32);
      readSync(fd, hdr, 0, 32, 0);
      const magic = hdr.readUInt32BE(0);
      if (magic !== 0x377f0682 && magic !== 0x377f0683) return;
      const bigEndian = magic === 0x377f0683;
      const ps = hdr.readUInt32BE(8);
      if (!PAGE_SIZES.includes(ps)) return;
      let [s0, s1] = walChecksum(hdr.subarray(0, 24), bigEndian, 0, 0);
      if (s0 !== hdr.readUInt32BE(24) || s1 !== hdr.readUInt32BE(28)) return;
      if (!this.report.headerOk) {
        this.pageSize = ps;
        this.usable = ps;
      } else if (ps !== this.pageSize) return;
      const salt1 = hdr.readUInt32BE(16);
      const salt2 = hdr.readUInt32BE(20);
      const frame = Buffer.alloc(24 + ps);
      let pending: Array<[number, Buffer]> = [];
      for (let off = 32; off + 24 + ps <= size; off += 24 + ps) {
        readSync(fd, frame, 0, 24 + ps, off);
        if (frame.readUInt32BE(8) !== salt1 || frame.readUInt32BE(12) !== salt2) break;
        [s0, s1] = walChecksum(frame.subarray(0, 8), bigEndian, s0, s1);
        [s0, s1] = walChecksum(frame.subarray(24), bigEndian, s0, s1);
        if (s0 !== frame.readUInt32BE(16) || s1 !== frame.readUInt32BE(20)) break;
        pending.push([frame.readUInt32BE(0), Buffer.from(frame.subarray(24))]);
        const commitSize = frame.readUInt32BE(4);
        if (commitSize > 0) {
          for (const [pg, data] of pending) this.wal.set(pg, data);
          this.report.walFrames += pending.length;
          this.pageCount = commitSize;
          pending = [];
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** page `n` (1-based), or undefined beyond the end of what the file holds */
  page(n: number): Buffer | undefined {
    const w = this.wal.get(n);
    if (w) return w;
    const hit = this.cache.get(n);
    if (hit) return hit;
    const off = (n - 1) * this.pageSize;
    if (n < 1 || off + this.pageSize > this.fileBytes) return undefined;
    const b = Buffer.alloc(this.pageSize);
    readSync(this.fd, b, 0, this.pageSize, off);
    if (this.cache.size > 4096) this.cache.clear();
    this.cache.set(n, b);
    return b;
  }

  private readFreelist(): void {
    if (!this.report.headerOk) return;
    const h = this.page(1);
    if (!h) return;
    let trunk = h.readUInt32BE(32);
    const seen = new Set<number>();
    while (trunk > 0 && trunk <= this.pageCount && !seen.has(trunk)) {
      seen.add(trunk);
      this.free.add(trunk);
      const p = this.page(trunk);
      if (!p) break;
      const n = p.readUInt32BE(4);
      if (n > this.usable / 4 - 2) break;
      for (let i = 0; i < n; i++) this.free.add(p.readUInt32BE(8 + 4 * i));
      trunk = p.readUInt32BE(0);
    }
  }

  // ---------------------------------------------------------------- b-tree pages

  /** the page's b-tree header and cell offsets, or undefined when it is not a sound b-tree page */
  private parsePage(b: Buffer, hdr: number): PageInfo | undefined {
    const type = b[hdr]!;
    if (type !== 2 && type !== 5 && type !== 10 && type !== 13) return undefined;
    const interior = type === 2 || type === 5;
    const n = b.readUInt16BE(hdr + 3);
    const contentStart = b.readUInt16BE(hdr + 5) || 65536;
    const ptrs = hdr + (interior ? 12 : 8);
    if (ptrs + 2 * n > this.usable || (n > 0 && contentStart < ptrs + 2 * n) || contentStart > this.usable || b[hdr + 7]! > 60) return undefined;
    const cells: number[] = [];
    for (let i = 0; i < n; i++) {
      const c = b.readUInt16BE(ptrs + 2 * i);
      if (c < contentStart || c >= this.usable) return undefined;
      cells.push(c);
    }
    const info: PageInfo = { type, cells, hdr };
    if (interior) {
      info.right = b.readUInt32BE(hdr + 8);
      if (info.right === 0 || info.right > this.pageCount) return undefined;
    }
    return info;
  }

  private pageInfo(n: number): PageInfo | undefined {
    const b = this.page(n);
    if (!b) return undefined;
    return this.parsePage(b, n === 1 ? 100 : 0);
  }

  /** the payload of the cell at `off` (following overflow pages), or undefined when it breaks */
  private payload(b: Buffer, off: number, type: number): { rowid?: number; data: Buffer } | undefined {
    let p = off;
    if (type === 5) return undefined;
    if (type === 2) p += 4;
    const [P, l1] = varint(b, p);
    p += l1;
    let rowid: number | undefined;
    if (type === 13) {
      const [r, l2] = varint(b, p);
      rowid = r;
      p += l2;
    }
    const U = this.usable;
    const X = type === 13 ? U - 35 : Math.floor(((U - 12) * 64) / 255) - 23;
    const M = Math.floor(((U - 12) * 32) / 255) - 23;
    let local = P;
    if (P > X) {
      const K = M + ((P - M) % (U - 4));
      local = K <= X ? K : M;
    }
    if (p + local > U || P > 1_000_000_000) return undefined;
    if (local === P) return { rowid, data: b.subarray(p, p + P) };
    const parts = [b.subarray(p, p + local)];
    let got = local;
    let next = b.readUInt32BE(p + local);
    const seen = new Set<number>();
    while (got < P) {
      if (next === 0 || next > this.pageCount || seen.has(next)) return undefined;
      seen.add(next);
      const o = this.page(next);
      if (!o) return undefined;
      const take = Math.min(U - 4, P - got);
      parts.push(o.subarray(4, 4 + take));
      got += take;
      next = o.readUInt32BE(0);
    }
    return { rowid, data: Buffer.concat(parts) };
  }

  private decodeRecord(data: Buffer): SqlValue[] | undefined {
    const [H, l0] = varint(data, 0);
    if (H > data.length || H < l0) return undefined;
    const types: number[] = [];
    for (let p = l0; p < H;) {
      const [t, l] = varint(data, p);
      types.push(t);
      p += l;
    }
    const out: SqlValue[] = [];
    let p = H;
    for (const t of types) {
      let v: SqlValue;
      let n = 0;
      if (t === 0) v = null;
      else if (t >= 1 && t <= 6) {
        n = [0, 1, 2, 3, 4, 6, 8][t]!;
        if (p + n > data.length) return undefined;
        v = readInt(data, p, n);
      } else if (t === 7) {
        n = 8;
        if (p + 8 > data.length) return undefined;
        v = data.readDoubleBE(p);
      } else if (t === 8) v = 0;
      else if (t === 9) v = 1;
      else if (t >= 12) {
        n = t % 2 === 0 ? (t - 12) / 2 : (t - 13) / 2;
        if (p + n > data.length) return undefined;
        v = t % 2 === 0 ? Buffer.from(data.subarray(p, p + n)) : this.text(data.subarray(p, p + n));
      } else return undefined;
      out.push(v);
      p += n;
    }
    return out;
  }

  private text(b: Buffer): string {
    if (this.encoding === 'utf8') return b.toString('utf8');
    if (this.encoding === 'utf16le') return b.toString('utf16le');
    return Buffer.from(b).swap16().toString('utf16le');
  }

  /** the records of one leaf page; bad cells counted when `count` */
  private *leafRows(n: number, count: boolean): Generator<{ rowid?: number; values: SqlValue[] }> {
    const b = this.page(n);
    const info = b ? this.parsePage(b, n === 1 ? 100 : 0) : undefined;
    if (!b || !info) return;
    for (const c of info.cells) {
      let rec: { rowid?: number; values: SqlValue[] } | undefined;
      try {
        const pl = this.payload(b, c, info.type);
        const values = pl ? this.decodeRecord(pl.data) : undefined;
        if (pl && values) rec = { rowid: pl.rowid, values };
      } catch {
        rec = undefined;
      }
      if (rec) yield rec;
      else if (count) this.report.badCells++;
    }
  }

  // ---------------------------------------------------------------- schema and trees

  private readSchema(): void {
    const rows: SqlValue[][] = [];
    const leaves = this.walk(1, 'sqlite_schema');
    for (const n of leaves) for (const r of this.leafRows(n, true)) rows.push(r.values);
    for (const v of rows) {
      const [type, name, , root] = v;
      if ((type === 'table' || type === 'index') && typeof name === 'string' && isInt(root) && Number(root) > 0)
        this.roots.set(name, { type, root: Number(root) });
    }
    this.report.schemaOk = this.roots.has('readings') || this.roots.has('points');
  }

  /** the leaf pages below `root`; damaged pages counted (their subtree is left to the orphans) */
  private walk(root: number, name: string): number[] {
    const leaves: number[] = [];
    const stack = [root];
    const seen = new Set<number>();
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n < 1 || seen.has(n) || (n <= this.pageCount && this.owner[n] !== 0)) continue;
      seen.add(n);
      const info = n > this.pageCount ? undefined : this.pageInfo(n);
      if (!info) {
        this.damage(name);
        continue;
      }
      this.own(n, name);
      if (info.type === 13 || info.type === 10) leaves.push(n);
      else {
        const b = this.page(n)!;
        stack.push(info.right!);
        for (const c of info.cells) stack.push(b.readUInt32BE(c));
      }
    }
    return leaves.sort((a, b) => a - b);
  }

  /** trees in which a page did not parse (their lost subtrees are searched for among orphans) */
  private readonly damaged = new Set<string>();
  private damage(name: string): void {
    this.damaged.add(name);
    this.report.damagedPages++;
  }

  private own(n: number, name: string): void {
    let i = this.names.indexOf(name);
    if (i < 0) i = this.names.push(name) - 1;
    this.owner[n] = i + 1;
  }

  private walkTrees(): void {
    for (const [name, { root }] of this.roots) {
      this.leaves.set(name, { tree: this.walk(root, name), orphans: [] });
      this.report.tables[name] = { rows: 0, orphanPages: 0 };
    }
  }

  /**
   * Leaf pages no walk reached, given to the one fgw table (or unique index) whose record shape
   * they fit. Only searched for the trees that lost pages (or all, when the schema is lost). A sound
   * schema that names `readings` (layouts 1-4) has no points or shapes, one that names `points`
   * (layout 5) no readings: those are not searched for.
   */
  private adoptOrphans(): void {
    const otherLayout = (name: string) =>
      LAYOUT_5_ONLY.has(name)
        ? this.roots.has('readings') && !this.roots.has('points')
        : name === 'readings' && this.roots.has('points') && !this.roots.has('readings');
    // a table whose tree is whole needs no orphans; a unique index also stands in for its damaged table
    const open = (name: string) =>
      (!this.roots.has(name) && !otherLayout(name)) ||
      this.damaged.has(name) ||
      !this.report.schemaOk ||
      (name === SERIES_INDEX && this.damaged.has('series')) ||
      (name === SHAPES_INDEX && this.damaged.has('shapes'));
    const candidates = Object.entries(FGW_TABLES).filter(([name, t]) => t.shape && open(name));
    if (candidates.length === 0) return;
    for (let n = 2; n <= this.pageCount; n++) {
      if (this.owner[n] !== 0 || this.free.has(n)) continue;
      const info = this.pageInfo(n);
      if (!info || (info.type !== 13 && info.type !== 10)) continue;
      const sample: SqlValue[][] = [];
      for (const r of this.leafRows(n, false)) if (sample.push(r.values) >= 8) break;
      if (sample.length === 0) continue;
      let to: string | undefined;
      const fits = candidates.filter(([, t]) => t.rowid === (info.type === 13) && sample.every((v) => t.shape!(v)));
      if (fits.length === 1) to = fits[0]![0];
      if (to === undefined) continue;
      this.own(n, to);
      if (!this.leaves.has(to)) this.leaves.set(to, { tree: [], orphans: [] });
      this.leaves.get(to)!.orphans.push(n);
      (this.report.tables[to] ??= { rows: 0, orphanPages: 0 }).orphanPages++;
    }
  }

  /**
   * Every readable row of a table (or index): `values` as stored (the rowid alias column is NULL in
   * a record; `rowid` carries it). The tree's pages first, then orphan pages, whose rows are skipped
   * when a tree page already covers their rowid.
   */
  *rows(name: string): Generator<{ rowid?: number; values: SqlValue[] }> {
    const t = (this.report.tables[name] ??= { rows: 0, orphanPages: 0 });
    const pages = this.leaves.get(name) ?? { tree: [], orphans: [] };
    const ranges: Array<[number, number]> = [];
    for (const n of pages.tree) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const r of this.leafRows(n, true)) {
        if (r.rowid !== undefined) {
          if (r.rowid < lo) lo = r.rowid;
          if (r.rowid > hi) hi = r.rowid;
        }
        t.rows++;
        yield r;
      }
      if (lo <= hi) ranges.push([lo, hi]);
    }
    if (pages.orphans.length === 0) return;
    ranges.sort((a, b) => a[0] - b[0]);
    const covered = (id: number) => {
      let a = 0;
      let b = ranges.length - 1;
      while (a <= b) {
        const m = (a + b) >> 1;
        if (id < ranges[m]![0]) b = m - 1;
        else if (id > ranges[m]![1]) a = m + 1;
        else return true;
      }
      return false;
    };
    for (const n of pages.orphans) {
      for (const r of this.leafRows(n, true)) {
        if (r.rowid !== undefined && covered(r.rowid)) continue;
        t.rows++;
        yield r;
      }
    }
  }
}

function varint(b: Buffer, p: number): [number, number] {
  let v = 0;
  for (let i = 0; i < 8; i++) {
    if (p + i >= b.length) throw new RangeError('varint past the end');
    const byte = b[p + i]!;
    v = v * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) return [v, i + 1];
  }
  if (p + 8 >= b.length) throw new RangeError('varint past the end');
  return [v * 256 + b[p + 8]!, 9];
}

function readInt(b: Buffer, p: number, n: number): number | bigint {
  if (n === 8) {
    const v = b.readBigInt64BE(p);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  return b.readIntBE(p, n);
}

/** the WAL's running checksum over `data` (pairs of 32-bit words, the byte order of the magic) */
function walChecksum(data: Buffer, bigEndian: boolean, s0: number, s1: number): [number, number] {
  for (let i = 0; i + 8 <= data.length; i += 8) {
    const x0 = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i);
    const x1 = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}
