/**
 * The limits pass: retention, the size budget and the junk shares, on a timer or at once.
 *
 * Limits: retention deletes rows older than `retentionMs`, walking the table in seq order (each page
 * touched once) and then, per device through the index, the late rows with old timestamps; a
 * store over maxSize (maxSize lowered) drops its oldest readings in chunks until it fits. We do not
 * vacuum: freed pages go to SQLite's freelist and are reused by new rows, so the file stays at its
 * high-water mark instead of shrinking and growing again. Every dropped reading is counted
 * (`dropped`, and `droppedUnforwarded` for those InfluxDB never got, which also go to the loss
 * ledger); drops are logged once per limits pass with their counts. The timer's pass (and the first
 * one, right after opening) runs one chunk per turn of the event loop; enforceLimits() runs them
 * all at once. limitsIntervalMs = 0 turns the timer off.
 */
import { errorText } from '../../config/errors.js';
import { isCorruption } from '../damage.js';
import { addToBatch, type LossBatch } from '../losses.js';
import { afterCursorSql, readingsIn } from './points.js';
import { DEAD_LETTER_BYTES, AUDIT_BYTES } from './rows.js';
import type { StoreState, Parts } from './state.js';
import { DELETE_CHUNK, MIN_RING_QUIET_MS } from './room.js';

export class LimitsPart {
  private limitsRunning = false;

  constructor(
    private readonly s: StoreState,
    private readonly p: Parts,
  ) {}

  armLimitsTimer(): void {
    if (this.s.limitsIntervalMs <= 0 || this.s.closed) return;
    this.s.limitsTimer = this.s.clock.setTimeout(() => {
      void this.runLimitsInSteps().finally(() => this.armLimitsTimer());
    }, this.s.limitsIntervalMs);
    // never keep a CLI process alive just for this timer
    (this.s.limitsTimer as { __timer?: { unref?: () => void } }).__timer?.unref?.();
  }

  /**
   * The timer's pass: the same work as enforceLimits(), one chunk (one short transaction) per turn
   * of the event loop, so a large first pass (a store reopened after weeks) never blocks collection.
   */
  async runLimitsInSteps(): Promise<void> {
    if (this.limitsRunning || this.s.closed) return;
    this.limitsRunning = true;
    try {
      const steps = this.limitSteps();
      for (;;) {
        if (this.s.closed) return;
        if (steps.next().done) return;
        await new Promise((r) => setImmediate(r));
      }
    } catch (e) {
      if (isCorruption(e) && this.s.onDamage === 'move-aside' && !this.s.closed) this.p.open.replaceDamaged(errorText(e));
      else this.s.log?.error({ err: errorText(e) }, 'cannot enforce storage limits');
    } finally {
      this.limitsRunning = false;
    }
  }

  enforceLimits(): number {
    if (this.s.closed) return 0;
    const steps = this.limitSteps();
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * Retention, then the size budget, then the junk shares, as a sequence of chunks, each its own
   * transaction; yields between chunks; returns the readings dropped. Counters (and the loss
   * ledger, for readings InfluxDB never got) move in the same transaction as the rows.
   *
   * Retention first walks the table in seq order (the order rows were written, and so roughly of
   * time): deleting a seq range touches each table page once. Late rows with old timestamps that
   * sit after the first recent chunk are then found per device through the (dev, ts) index.
   */
  private *limitSteps(): Generator<void, number> {
    // without a forwarder (none in this process, and no cursor ever set) nothing is "unforwarded"
    const cursor = this.p.forward.forwardedUpTo();
    let byRetention = 0;
    let bySize = 0;
    let unforwarded = 0;
    const retentionLosses: LossBatch = new Map();
    const count = (dropped: number, unfwd: number) => {
      this.p.room.countDropped(dropped, unfwd);
    };
    /** per device, the readings after the cursor among those about to go */
    const noteLosses = (rows: Array<[number, number, number, number]>) => {
      for (const [dev, n, lo, hi] of rows) {
        const device = this.s.dataDevById.get(dev);
        if (device !== undefined) addToBatch(retentionLosses, device, lo, hi, n);
      }
    };

    if (this.s.retentionMs > 0) {
      const cutoff = this.s.clock.now() - this.s.retentionMs;
      // points: chunks of about DELETE_CHUNK readings; `n` is a point's readings
      const chunk = this.s.pointsFor(DELETE_CHUNK);
      const after = afterCursorSql();
      const probe = this.s.db.prepare(
        'SELECT max(seq) AS hi, count(*) AS n, coalesce(sum(ts < ?), 0) AS old FROM (SELECT seq, ts FROM points WHERE seq > ? ORDER BY seq LIMIT ?)',
      );
      const unfwdRange = this.s.db
        .prepare(`SELECT dev, sum(${after}), min(ts), max(ts) FROM points WHERE seq > ? AND seq <= ? AND ts < ? AND seq + n - 1 > ? GROUP BY dev`)
        .raw();
      const delRange = this.s.db.prepare('DELETE FROM points WHERE seq > ? AND seq <= ? AND ts < ? RETURNING n').pluck();
      const rangeChunk = this.s.db.transaction((lo: number, hi: number) => {
        const rows = unfwdRange.all(cursor, lo, hi, cutoff, cursor) as Array<[number, number, number, number]>;
        noteLosses(rows);
        const u = rows.reduce((a, r) => a + r[1], 0);
        const n = readingsIn(delRange.all(lo, hi, cutoff) as number[]);
        count(n, u);
        return [n, u] as const;
      });
      // from the lowest seq (history salvaged from a damaged file sits below zero)
      let lo = Number.MIN_SAFE_INTEGER;
      for (;;) {
        const p = probe.get(cutoff, lo, chunk) as { hi: number | null; n: number; old: number };
        if (p.n === 0 || p.hi === null) break;
        if (p.old > 0) {
          const [n, u] = this.s.system(() => rangeChunk(lo, p.hi!));
          byRetention += n;
          unforwarded += u;
          yield;
        }
        if (p.old < p.n || p.n < chunk) break;
        lo = p.hi;
      }
      // late rows with old timestamps after the walk stopped: per device, through the (dev, ts) index
      const ids = this.s.db.prepare('SELECT id FROM devices').pluck().all() as number[];
      const anyOld = this.s.db.prepare('SELECT 1 FROM points WHERE dev = ? AND ts < ? LIMIT 1').pluck();
      const unfwdStmt = this.s.db
        .prepare(
          `SELECT dev, sum(${after}), min(ts), max(ts) FROM (SELECT seq, dev, ts, n FROM points WHERE dev = ? AND ts < ? LIMIT ?) WHERE seq + n - 1 > ? GROUP BY dev`,
        )
        .raw();
      const del = this.s.db.prepare('DELETE FROM points WHERE seq IN (SELECT seq FROM points WHERE dev = ? AND ts < ? LIMIT ?) RETURNING n').pluck();
      const seriesChunk = this.s.db.transaction((id: number) => {
        const rows = unfwdStmt.all(cursor, id, cutoff, chunk, cursor) as Array<[number, number, number, number]>;
        noteLosses(rows);
        const u = rows.reduce((a, r) => a + r[1], 0);
        const gone = del.all(id, cutoff, chunk) as number[];
        const n = readingsIn(gone);
        count(n, u);
        return [n, u, gone.length] as const;
      });
      for (const id of ids) {
        if (anyOld.get(id, cutoff) === undefined) continue;
        for (;;) {
          const [n, u, points] = this.s.system(() => seriesChunk(id));
          byRetention += n;
          unforwarded += u;
          yield;
          if (points < chunk) break;
        }
      }
      this.s.system(() =>
        this.s.db.transaction(() => {
          const a = this.s.db
            .prepare(`SELECT count(*) AS n, coalesce(sum(seq > ?), 0) AS unfwd, coalesce(sum(${AUDIT_BYTES}), 0) AS bytes FROM audit WHERE ts < ?`)
            .get(this.p.forward.forwardedAuditUpTo(), cutoff) as { n: number; unfwd: number; bytes: number };
          if (a.n > 0) {
            this.s.db.prepare('DELETE FROM audit WHERE ts < ?').run(cutoff);
            this.s.st.addMeta.run(a.n, 'audit:dropped');
            this.s.st.addMeta.run(a.unfwd, 'audit:droppedUnforwarded');
            this.s.junkBytes.audit = Math.max(0, this.s.junkBytes.audit - a.bytes);
          }
          const d = this.s.db.prepare(`SELECT count(*) AS n, coalesce(sum(${DEAD_LETTER_BYTES}), 0) AS bytes FROM dead_letters WHERE ts < ?`).get(cutoff) as {
            n: number;
            bytes: number;
          };
          if (d.n > 0) {
            this.s.db.prepare('DELETE FROM dead_letters WHERE ts < ?').run(cutoff);
            this.s.st.addMeta.run(d.n, 'deadLetters:dropped');
            this.s.junkBytes.deadLetters = Math.max(0, this.s.junkBytes.deadLetters - d.bytes);
          }
        })(),
      );
      if (retentionLosses.size > 0) {
        this.s.system(() => this.s.db.transaction(() => this.s.ledger.add('retention', retentionLosses))());
        this.p.room.closeEpisodes('retention');
      }
    }

    // over the size budget (maxSize lowered, or the store opened on a fuller disk): the oldest
    // readings go, forwarded ones first, until the store fits again
    let room = this.p.room.room();
    if (room.bytes <= 0 && room.limit === 'maxSize') {
      const target = this.s.plan.reserveBytes;
      for (const unfwd of [false, true]) {
        while (room.bytes < target) {
          const before = Number(this.s.st.getMeta.get('droppedUnforwarded') ?? 0);
          const d = unfwd ? this.p.room.dropOldest(DELETE_CHUNK, cursor) : this.p.room.dropForwarded(DELETE_CHUNK, cursor);
          if (d === 0) break;
          bySize += d;
          unforwarded += Number(this.s.st.getMeta.get('droppedUnforwarded') ?? 0) - before;
          room = this.p.room.room();
          yield;
        }
      }
    }

    // the junk's bytes (summed afresh after another connection wrote, or once a day), trimmed to the shares now
    const dv = Number(this.s.st.dataVersion.get());
    if (dv !== this.s.dataVersion || this.s.clock.now() - this.s.junkSummedAt > 86_400_000) this.p.audit.loadJunkBytes(true);
    this.s.system(() => this.s.db.transaction(() => (this.p.audit.trimDeadLetters(), this.p.audit.trimAudits()))());
    this.p.audit.saveJunkBytes();
    if (this.s.ring && this.s.clock.now() - this.s.ring.lastDropAt >= Math.max(this.s.limitsIntervalMs, MIN_RING_QUIET_MS)) this.p.room.ringEnded();
    // (only in the process that writes readings: leftoversClosed says it has)
    if (!this.s.full && this.s.leftoversClosed) this.p.room.restoreReserve();

    const s = this.s.dropSummary;
    this.s.dropSummary = { forwarded: 0, unforwarded: 0, deadLetters: 0, audits: 0 };
    const dropped = byRetention + bySize;
    if (dropped > 0 || s.forwarded + s.unforwarded + s.deadLetters + s.audits > 0) {
      this.s.log?.warn(
        {
          dropped,
          byRetention,
          bySize,
          unforwarded,
          madeRoom: s.forwarded + s.unforwarded,
          madeRoomUnforwarded: s.unforwarded,
          deadLetters: s.deadLetters,
          audits: s.audits,
          totalDropped: Number(this.s.st.getMeta.get('dropped')),
        },
        'storage limits: dropped the oldest rows',
      );
    }
    return dropped;
  }
}
