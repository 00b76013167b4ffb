/**
 * The junk tables: dead letters and audit records, kept within their shares of the capacity.
 *
 * Dead letters and audit records each have their own share of the capacity (deadLetterShare,
 * auditShare): past it their own oldest are dropped (audits: forwarded ones first, then
 * unforwarded refusals, then the rest) and counted; they never push out readings.
 */
import type { DeadLetter } from '../../adapters/types.js';
import { errorText } from '../../config/errors.js';
import type { AuditRecord, StoredAudit, StoredDeadLetter } from '../types.js';
import { DEAD_LETTER_BYTES, AUDIT_BYTES, auditRow, deadLetterRow, toAudit, whereOf } from './rows.js';
import type { StoreState, Parts } from './state.js';

/** how long the room computed for dead letters and audits is reused */
const JUNK_ROOM_TTL_MS = 250;

export class AuditPart {
  private junkRoom?: { at: number; bytes: number };

  constructor(
    private readonly s: StoreState,
    private readonly p: Parts,
  ) {}

  /**
   * The junk tables' bytes: summed over their rows (which reads them all: up to their shares of a
   * 2 GB store) only when no earlier count is kept in meta, when another connection has written
   * since, or once a day; else the count kept at the last limits pass or close. A count a crash left
   * behind is off by what came and went since then, which the next full sum corrects.
   */
  loadJunkBytes(full: boolean): void {
    const dl = this.s.st.getMeta.get('bytes:deadLetters') as number | undefined;
    const au = this.s.st.getMeta.get('bytes:audit') as number | undefined;
    if (!full && dl !== undefined && au !== undefined) {
      this.s.junkBytes.deadLetters = Number(dl);
      this.s.junkBytes.audit = Number(au);
      return;
    }
    this.s.junkBytes.deadLetters = Number(this.s.db.prepare(`SELECT coalesce(sum(${DEAD_LETTER_BYTES}), 0) FROM dead_letters`).pluck().get());
    this.s.junkBytes.audit = Number(this.s.db.prepare(`SELECT coalesce(sum(${AUDIT_BYTES}), 0) FROM audit`).pluck().get());
    this.s.junkSummedAt = this.s.clock.now();
    this.saveJunkBytes();
  }

  saveJunkBytes(): void {
    try {
      this.s.system(() =>
        this.s.db.transaction(() => {
          this.s.st.setMeta.run('bytes:deadLetters', this.s.junkBytes.deadLetters);
          this.s.st.setMeta.run('bytes:audit', this.s.junkBytes.audit);
        })(),
      );
    } catch {
      /* kept in memory; saved at the next pass */
    }
  }

  /** whether a junk row of `bytes` fits in the room readings leave (never the reserve) */
  private junkFits(bytes: number): boolean {
    const now = this.s.clock.now();
    if (this.s.full) return false;
    if (!this.junkRoom || now - this.junkRoom.at > JUNK_ROOM_TTL_MS || this.junkRoom.bytes < 4 * bytes)
      this.junkRoom = { at: now, bytes: this.p.room.room().bytes };
    if (this.junkRoom.bytes < bytes) return false;
    this.junkRoom.bytes -= bytes;
    return true;
  }

  private shareBytes(kind: 'deadLetters' | 'audit'): number {
    return Math.floor(this.s.plan.capacityBytes * this.s.shares[kind]);
  }

  deadLetter(entry: DeadLetter): void {
    if (this.s.closed) return;
    const { row, bytes } = deadLetterRow(entry);
    try {
      this.s.system(() => {
        if (bytes > this.shareBytes('deadLetters') || !this.junkFits(bytes)) {
          // counted, so that received = kept + dropped still holds
          this.s.st.addMeta.run(1, 'deadLetters:dropped');
          this.s.dropSummary.deadLetters++;
          return;
        }
        this.s.st.insertDeadLetter.run(row);
        this.s.junkBytes.deadLetters += bytes;
        if (this.s.junkBytes.deadLetters > this.shareBytes('deadLetters')) this.s.db.transaction(() => this.trimDeadLetters())();
      });
    } catch (e) {
      this.s.log?.error({ err: errorText(e), source: entry.source, reason: entry.reason }, 'cannot store a dead letter');
    }
  }

  /** the oldest dead letters past their share (inside the caller's transaction) */
  trimDeadLetters(): void {
    const cap = this.shareBytes('deadLetters');
    let bytes = this.s.junkBytes.deadLetters;
    if (bytes <= cap) return;
    // down to 90% of the share, so that a flood trims once per tenth of it, not once per row
    const target = Math.floor(cap * 0.9);
    while (bytes > target) {
      const o = this.s.st.oldestDeadLetters.get(Math.max(1, Math.min(1000, Math.ceil((bytes - target) / 4096)))) as {
        n: number;
        bytes: number;
        last: number | null;
      };
      if (o.n === 0 || o.last === null) break;
      this.s.st.deleteDeadLettersUpTo.run(o.last);
      this.s.st.addMeta.run(o.n, 'deadLetters:dropped');
      this.s.dropSummary.deadLetters += o.n;
      bytes -= o.bytes;
    }
    this.s.junkBytes.deadLetters = bytes;
  }

  appendAudit(a: AuditRecord): void {
    if (this.s.closed) return;
    const { row, bytes } = auditRow(a);
    try {
      this.s.system(() => {
        if (!this.junkFits(bytes)) {
          this.s.db.transaction(() => {
            this.s.st.addMeta.run(1, 'audit:dropped');
            this.s.st.addMeta.run(1, 'audit:droppedUnforwarded');
          })();
          this.s.dropSummary.audits++;
          return;
        }
        this.s.lastAuditSeq = Number(this.s.st.insertAudit.run(row).lastInsertRowid);
        this.s.junkBytes.audit += bytes;
        if (this.s.junkBytes.audit > this.shareBytes('audit')) this.s.db.transaction(() => this.trimAudits())();
      });
    } catch (e) {
      this.s.log?.error({ err: errorText(e), route: a.route }, 'cannot store an audit record');
    }
  }

  /**
   * The oldest audit records past their share (inside the caller's transaction): first those InfluxDB
   * has, then unforwarded refusals (an unauthenticated flood), then any.
   */
  trimAudits(): void {
    const cap = this.shareBytes('audit');
    let bytes = this.s.junkBytes.audit;
    if (bytes <= cap) return;
    const stored = Math.max(this.s.cursors.audit, Number(this.s.st.getMeta.get('cursor:audit') ?? 0));
    const cursor = this.s.forwarding || stored > 0 ? stored : Number.MAX_SAFE_INTEGER;
    const target = Math.floor(cap * 0.9);
    for (const t of this.s.st.auditTiers) {
      while (bytes > target) {
        const limit = Math.max(1, Math.min(1000, Math.ceil((bytes - target) / 128)));
        const o = t.size.get(cursor, limit) as { n: number; bytes: number };
        if (o.n === 0) break;
        t.del.run(cursor, limit);
        this.s.st.addMeta.run(o.n, 'audit:dropped');
        if (t.unforwarded) this.s.st.addMeta.run(o.n, 'audit:droppedUnforwarded');
        this.s.dropSummary.audits += o.n;
        bytes -= o.bytes;
      }
    }
    this.s.junkBytes.audit = bytes;
  }

  audits(q: { from?: number; to?: number; action?: 'read' | 'write'; device?: string; limit?: number }): StoredAudit[] {
    return this.p.open.guard(() => {
      const { sql: where, params } = whereOf([
        ['ts >= ?', q.from],
        ['ts < ?', q.to],
        ['action = ?', q.action],
        ['device = ?', q.device],
      ]);
      let sql = `SELECT * FROM audit${where} ORDER BY ts, seq`;
      if (q.limit !== undefined) {
        sql += ' LIMIT ?';
        params.push(q.limit);
      }
      return (this.s.db.prepare(sql).all(...params) as Record<string, unknown>[]).map(toAudit);
    });
  }

  deadLetters(q: { limit?: number; source?: string } = {}): StoredDeadLetter[] {
    return this.p.open.guard(() => {
      const { sql: where, params } = whereOf([['source = ?', q.source]]);
      let sql = `SELECT * FROM dead_letters${where}`;
      sql += ' ORDER BY id DESC';
      if (q.limit !== undefined) {
        sql += ' LIMIT ?';
        params.push(q.limit);
      }
      return (this.s.db.prepare(sql).all(...params) as Record<string, unknown>[]).map((r) => {
        const d: StoredDeadLetter = { id: r.id as number, ts: r.ts as number, source: r.source as string, reason: r.reason as string };
        for (const k of ['device', 'topic', 'detail', 'payload'] as const) if (r[k] !== null && r[k] !== undefined) d[k] = r[k] as string;
        return d;
      });
    });
  }
}
