/**
 * The local history as the API reads it: readings by query, the newest of each series, the store's figures
 * and the loss ledger.
 */
import { fileSize } from '../disk.js';
import { queryLosses, type LossEpisode } from '../losses.js';
import type { Measurement, ReadingQuery, StoreStats, StoredReading } from '../types.js';
import { QUALITY_NAME, type SeriesInfo, type Row, restore, whereOf } from './rows.js';
import type { StoreState, Parts } from './state.js';

export class HistoryPart {
  constructor(
    private readonly s: StoreState,
    private readonly p: Parts,
  ) {}

  toStored(row: Row): StoredReading {
    const [seq, sid, ts, value, text, q, error, tie] = row;
    const s = this.s.seriesById.get(sid) ?? this.loadSeries(sid);
    const out: StoredReading = {
      seq,
      measurement: s.measurement,
      device: s.device,
      tag: s.tag,
      kind: s.kind,
      ts,
      value: restore(s.kind, value, text),
      quality: QUALITY_NAME[q] ?? 'bad',
    };
    if (error !== null) out.error = error;
    if (tie) out.tie = tie;
    return out;
  }

  /** a series written by another connection to the same file (e.g. the runtime while `fgw query` reads) */
  private loadSeries(sid: number): SeriesInfo {
    const s = this.s.db.prepare('SELECT measurement, device, tag, kind, dev FROM series WHERE id = ?').get(sid) as SeriesInfo | undefined;
    const info: SeriesInfo = s ?? { measurement: 'data', device: '?', tag: '?', kind: 'float', dev: 0 };
    if (s) this.s.seriesById.set(sid, info);
    return info;
  }

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

  query(q: ReadingQuery): StoredReading[] {
    return this.p.open.guard(() => {
      const where: string[] = [];
      const params: unknown[] = [];
      // the device narrows through the (dev, ts) index; the series filter does the rest
      if (q.device !== undefined) {
        const devs = (['data', 'status'] as const)
          .filter((m) => q.measurement === undefined || q.measurement === m)
          .map((m) => this.p.commit.devId(m, q.device!))
          .filter((d) => d !== undefined);
        where.push(`dev IN (${devs.join(',') || 'NULL'})`);
      }
      const sf = this.seriesFilter(q);
      if (sf) {
        where.push(`series IN (${sf.sql})`);
        params.push(...sf.params);
      }
      if (q.from !== undefined) {
        where.push('ts >= ?');
        params.push(q.from);
      }
      if (q.to !== undefined) {
        where.push('ts < ?');
        params.push(q.to);
      }
      const dir = q.order === 'desc' ? 'DESC' : 'ASC';
      let sql = `SELECT seq, series, ts, value, text, quality, error, tie FROM readings${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ts ${dir}, seq ${dir}`;
      if (q.limit !== undefined) {
        sql += ' LIMIT ?';
        params.push(q.limit);
      }
      return (
        this.s.db
          .prepare(sql)
          .raw()
          .all(...params) as Row[]
      ).map((r) => this.toStored(r));
    });
  }

  latest(device?: string): StoredReading[] {
    return this.p.open.guard(() => {
      const params: unknown[] = [];
      // the latest table holds each series' newest reading (kept by every commit)
      let sql = `SELECT r.seq, r.series, r.ts, r.value, r.text, r.quality, r.error, r.tie FROM series s
        JOIN latest l ON l.series = s.id JOIN readings r ON r.seq = l.seq
        WHERE s.measurement = 'data'`;
      if (device !== undefined) {
        sql += ' AND s.device = ?';
        params.push(device);
      }
      const rows = (
        this.s.db
          .prepare(sql)
          .raw()
          .all(...params) as Row[]
      ).map((r) => this.toStored(r));
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
          `SELECT min((SELECT ts FROM readings WHERE dev = d.id ORDER BY ts ASC LIMIT 1)) AS oldest,
                  max((SELECT ts FROM readings WHERE dev = d.id ORDER BY ts DESC LIMIT 1)) AS newest FROM devices d`,
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
