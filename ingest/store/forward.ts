/**
 * Cursors: the forwarder's two (readings, audit), other consumers' named ones (north:<name>) with their
 * drop counters, and what is still to send after each.
 */
import { ErrorCodes, GatewayError, errorText } from '../../config/errors.js';
import type { StoredAudit, StoredReading } from '../types.js';
import { type PointRow, readingsOf } from './points.js';
import { toAudit } from './rows.js';
import type { StoreState, Parts } from './state.js';

export class ForwardPart {
  /** the connection the named-cursor drop trigger was created on */
  private namedTrigger: unknown;
  private cursorSaveFailed = false;

  constructor(
    private readonly s: StoreState,
    private readonly p: Parts,
  ) {}

  /** seq up to which InfluxDB has the readings (all of them when nothing forwards this store) */
  forwardedUpTo(): number {
    const stored = Math.max(this.s.cursors.readings, Number(this.s.st.getMeta.get('cursor:readings') ?? 0));
    return this.s.forwarding || stored > 0 ? stored : Number.MAX_SAFE_INTEGER;
  }

  readForward(stream: 'readings', cursor: number, limit: number): StoredReading[];
  readForward(stream: 'audit', cursor: number, limit: number): StoredAudit[];
  readForward(stream: 'readings' | 'audit', cursor: number, limit: number): StoredReading[] | StoredAudit[] {
    return this.p.open.guard(() => {
      if (stream === 'readings') return this.readReadings(cursor, limit);
      return (this.s.st.forwardAudit.all(cursor, limit) as Record<string, unknown>[]).map(toAudit);
    });
  }

  /** the readings after `cursor`, at most `limit`, in seq order: from the point holding cursor + 1 on */
  private readReadings(cursor: number, limit: number): StoredReading[] {
    this.p.commit.refresh();
    const out: StoredReading[] = [];
    if (limit <= 0) return out;
    const seriesOf = (id: number) => this.s.seriesById.get(id);
    const head = this.s.st.pointAt.get(cursor) as PointRow | undefined;
    if (head !== undefined && head[0] + head[4] - 1 > cursor) readingsOf(head, this.s.shapes.get(head[3]), seriesOf, { from: cursor + 1, out, limit });
    if (out.length >= limit) return out;
    for (const row of this.s.st.forwardPoints.iterate(cursor) as IterableIterator<PointRow>) {
      readingsOf(row, this.s.shapes.get(row[3]), seriesOf, { out, limit });
      if (out.length >= limit) break;
    }
    return out;
  }

  getCursor(name: string): number {
    if (name !== 'readings' && name !== 'audit') return Number(this.s.st.getMeta.get(`cursor:${name}`) ?? this.s.named.get(name) ?? 0);
    this.s.forwarding = true;
    const v = Number(this.s.st.getMeta.get(`cursor:${name}`) ?? 0);
    if (v > this.s.cursors[name]) this.s.cursors[name] = v;
    return v;
  }

  /**
   * Saves a cursor. It is written into the reserve, so a full disk does not stop it; should saving
   * fail anyway the store still frees readings up to it (kept in memory), and GW_ERR_STORE tells the
   * forwarder, which goes on (a restart would send again what followed the saved cursor).
   */
  setCursor(stream: string, seq: number): void {
    if (stream !== 'readings' && stream !== 'audit') return this.setNamedCursor(stream, seq);
    this.s.forwarding = true;
    if (seq > this.s.cursors[stream]) this.s.cursors[stream] = seq;
    try {
      this.s.system(() => this.s.st.setMeta.run(`cursor:${stream}`, seq));
      if (this.cursorSaveFailed) this.s.log?.info({ stream, seq }, 'forwarder cursor saved again');
      this.cursorSaveFailed = false;
    } catch (e) {
      if (!this.cursorSaveFailed) this.s.log?.error({ stream, seq, err: errorText(e) }, 'cannot save the forwarder cursor');
      this.cursorSaveFailed = true;
      throw new GatewayError(ErrorCodes.STORE, `cannot save the ${stream} cursor: ${errorText(e)}`, { cause: e });
    }
  }

  /**
   * Another consumer's position in the readings stream (a northbound target: `north:<name>`), in
   * meta as `cursor:<name>` with its drop counter `dropped:<name>`, which a temporary trigger on
   * this connection moves for every deleted reading after the cursor, whatever deletes it
   * (retention, maxSize, the room a commit makes). Saved into the reserve like the forwarder's.
   */
  private setNamedCursor(name: string, seq: number): void {
    this.s.named.set(name, seq);
    try {
      this.s.system(() =>
        this.s.db.transaction(() => {
          this.s.st.setMeta.run(`cursor:${name}`, seq);
          this.s.db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, 0)').run(`dropped:${name}`);
        })(),
      );
    } catch (e) {
      throw new GatewayError(ErrorCodes.STORE, `cannot save the ${name} cursor: ${errorText(e)}`, { cause: e });
    }
    this.countNamedDrops();
  }

  /** the trigger counting each named cursor's drops (once per connection, when one exists) */
  countNamedDrops(): void {
    if (this.namedTrigger === this.s.db) return;
    const any = this.s.db.prepare("SELECT 1 FROM meta WHERE key LIKE 'dropped:%' LIMIT 1").pluck().get();
    if (any === undefined) return;
    // a deleted point's readings after each cursor
    this.s.db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS named_cursor_drops AFTER DELETE ON main.points
      BEGIN
        UPDATE meta SET value = value + max(0, min(OLD.n, OLD.seq + OLD.n - 1 - (SELECT c.value FROM meta c WHERE c.key = 'cursor:' || substr(meta.key, 9))))
          WHERE key IN (SELECT 'dropped:' || substr(c.key, 8) FROM meta c WHERE c.key GLOB 'cursor:*:*' AND c.value < OLD.seq + OLD.n - 1);
      END`);
    this.namedTrigger = this.s.db;
  }

  headSeq(): number {
    return this.p.open.guard(() => this.s.nextSeq - 1);
  }

  backlog(cursor: string): number {
    return this.p.open.guard(() => (cursor === 'readings' ? this.backlogCount() : this.countAfterCursor(this.getCursor(cursor))));
  }

  droppedUnforwarded(cursor: string): number {
    return this.p.open.guard(() => this.s.meta(cursor === 'readings' ? 'droppedUnforwarded' : `dropped:${cursor}`));
  }

  forwardedAuditUpTo(): number {
    const stored = Math.max(this.s.cursors.audit, Number(this.s.st.getMeta.get('cursor:audit') ?? 0));
    return this.s.forwarding || stored > 0 ? stored : Number.MAX_SAFE_INTEGER;
  }

  backlogCount(): number {
    if (!this.s.forwarding) return 0;
    return this.countAfterCursor(Math.max(this.s.cursors.readings, Number(this.s.st.getMeta.get('cursor:readings') ?? 0)));
  }

  /** readings and status rows after `cursor` */
  private countAfterCursor(cursor: number): number {
    const maxSeq = this.s.nextSeq - 1;
    if (maxSeq <= cursor) return 0;
    const minSeq = this.s.st.minSeq.get() as number | null;
    if (minSeq === null) return 0;
    const span = maxSeq - Math.max(cursor, minSeq - 1);
    // exact count while it is cheap; beyond that seq arithmetic, exact unless rows after the
    // cursor were deleted out of order (retention of late, out-of-order readings): an upper bound
    if (span <= 200_000) {
      // the points after the cursor, and the rest of the one it stops in
      const head = this.s.st.pointAt.get(cursor) as PointRow | undefined;
      const partial = head !== undefined ? Math.max(0, head[0] + head[4] - 1 - cursor) : 0;
      return Number(this.s.st.countAfter.get(cursor)) + partial;
    }
    return Math.max(0, span);
  }
}
