/**
 * The local history as the API reads it: readings by query, the newest of each series, the store's figures
 * and the loss ledger.
 */
import { fileSize } from '../disk.js';
import { queryLosses, type LossEpisode } from '../losses.js';
import type { Measurement, ReadingQuery, StoreStats, StoredReading } from '../types.js';
import { POINT_COLUMNS, type PointRow, readingsOf } from './points.js';
import { whereOf } from './rows.js';
import type { StoreState, Parts } from './state.js';

export class HistoryPart {
  constructor(
    private readonly s: StoreState,
    private readonly p: Parts,
  ) {}

  /** ids of the series matching a filter; undefined = no filter */
  seriesFilter(f: { measurement?: Measurement; device?: string; tag?: string; tags?: readonly string[] }): { sql: string; params: unknown[] } | undefined {
    const w = whereOf([
      ['measurement = ?', f.measurement],
      ['device = ?', f.device],
      ['tag = ?', f.tag],
    ]);
    if (f.tags !== undefined) {
      w.sql += `${w.sql ? ' AND' : ' WHERE'} tag IN (${f.tags.map(() => '?').join(',') || 'NULL'})`;
      w.params.push(...f.tags);
    }
    return w.sql ? { sql: `SELECT id FROM series${w.sql}`, params: w.params } : undefined;
  }

  /** the ids of the series matching a filter (undefined: no filter) */
  seriesIds(f: Parameters<HistoryPart['seriesFilter']>[0]): Set<number> | undefined {
    const sf = this.seriesFilter(f);
    if (sf === undefined) return undefined;
    return new Set(
      this.s.db
        .prepare(sf.sql)
        .pluck()
        .all(...sf.params) as number[],
    );
  }

  query(q: ReadingQuery): StoredReading[] {
    return this.p.open.guard(() => {
      this.p.commit.refresh();
      const where: string[] = [];
      const params: unknown[] = [];
      const ids = this.seriesIds(q);
      // the devices narrow through the (dev, ts) index, the shapes to those with a wanted series;
      // the series filter does the rest, entry by entry
      if (ids !== undefined) {
        const devs = new Set<number>();
        for (const id of ids) devs.add(this.s.seriesById.get(id)?.dev ?? 0);
        where.push(`dev IN (${[...devs].join(',') || 'NULL'})`, `shape IN (${this.s.shapes.having(ids).join(',') || 'NULL'})`);
      }
      if (q.from !== undefined) {
        where.push('ts >= ?');
        params.push(q.from);
      }
      if (q.to !== undefined) {
        where.push('ts < ?');
        params.push(q.to);
      }
      const desc = q.order === 'desc';
      const dir = desc ? 'DESC' : 'ASC';
      const sql = `SELECT ${POINT_COLUMNS} FROM points${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ts ${dir}, seq ${dir}`;
      const out: StoredReading[] = [];
      const keep = ids === undefined ? undefined : (sid: number) => ids.has(sid);
      const seriesOf = (id: number) => this.s.seriesById.get(id);
      if (q.limit !== undefined && q.limit <= 0) return out;
      for (const row of this.s.db
        .prepare(sql)
        .raw()
        .iterate(...params) as IterableIterator<PointRow>) {
        readingsOf(row, this.s.shapes.get(row[3]), seriesOf, { keep, desc, out, limit: q.limit });
        if (q.limit !== undefined && out.length >= q.limit) break;
      }
      return out;
    });
  }

  latest(device?: string): StoredReading[] {
    return this.p.open.guard(() => {
      this.p.commit.refresh();
      // the newest point of each device and shape (kept by every commit): each series' newest
      // reading is in the newest point of one of the shapes that have it
      let sql = `SELECT ${POINT_COLUMNS.split(', ')
        .map((c) => `p.${c}`)
        .join(', ')} FROM newest_points l JOIN points p ON p.seq = l.seq`;
      const params: unknown[] = [];
      if (device !== undefined) {
        const dev = this.p.commit.devId('data', device);
        if (dev === undefined) return [];
        sql += ' WHERE l.dev = ?';
        params.push(dev);
      }
      const seriesOf = (id: number) => this.s.seriesById.get(id);
      const rows: StoredReading[] = [];
      for (const point of this.s.db
        .prepare(sql)
        .raw()
        .all(...params) as PointRow[]) {
        readingsOf(point, this.s.shapes.get(point[3]), seriesOf, { keep: (sid) => seriesOf(sid)?.measurement === 'data', out: rows });
      }
      // a tag whose kind changed has two series: keep the newest reading per (device, tag)
      const best = new Map<string, StoredReading>();
      for (const r of rows) {
        const k = `${r.device}\u0000${r.tag}`;
        const prev = best.get(k);
        if (!prev || r.ts > prev.ts || (r.ts === prev.ts && r.seq > prev.seq)) best.set(k, r);
      }
      return [...best.values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
    });
  }

  losses(q: { from?: number; to?: number; device?: string } = {}): LossEpisode[] {
    return queryLosses(this.s.db, q);
  }

  stats(): StoreStats {
    return this.p.open.guard(() => {
      let sizeBytes = 0;
      for (const f of [this.s.file, `${this.s.file}-wal`, `${this.s.file}-shm`, this.s.reservePath]) sizeBytes += fileSize(f);
      const ends = this.s.db
        .prepare(
          `SELECT min((SELECT ts FROM points WHERE dev = d.id ORDER BY ts ASC LIMIT 1)) AS oldest,
                  max((SELECT ts FROM points WHERE dev = d.id ORDER BY ts DESC LIMIT 1)) AS newest FROM devices d`,
        )
        .get() as { oldest: number | null; newest: number | null };
      const losses = this.s.ledger.totals();
      // refused readings the ledger could not take yet (a disk full to the last byte) count too
      for (const [device, [n]] of this.s.unrecorded) {
        const t = losses.find((l) => l.device === device && l.reason === 'store-full');
        if (t) t.count += n;
        else losses.push({ device, reason: 'store-full', count: n });
      }
      const deadLetters = Number(this.s.db.prepare('SELECT count(*) FROM dead_letters').pluck().get());
      const deadLettersDropped = this.s.meta('deadLetters:dropped');
      const out: StoreStats = {
        sizeBytes,
        maxSizeBytes: this.s.maxSizeBytes,
        readings: this.s.meta('count:readings'),
        backlog: this.p.forward.backlogCount(),
        dropped: this.s.meta('dropped'),
        droppedUnforwarded: this.s.meta('droppedUnforwarded'),
        lost: losses.reduce((a, l) => a + l.count, 0),
        losses,
        deadLetters,
        deadLettersReceived: deadLetters + deadLettersDropped,
        deadLettersDropped,
        auditDropped: this.s.meta('audit:dropped'),
        auditDroppedUnforwarded: this.s.meta('audit:droppedUnforwarded'),
        damaged: this.p.open.damagedList(),
      };
      const full =
        this.s.full ?? (this.s.ring ? { reason: 'maxSize' as const, since: this.s.ring.since, refused: 0, dropped: this.s.ring.dropped } : undefined);
      if (full) out.full = { ...full };
      if (ends.oldest !== null) out.oldestTs = ends.oldest;
      if (ends.newest !== null) out.newestTs = ends.newest;
      return out;
    });
  }
}
