/**
 * `fgw store salvage` on the live store: where history rows go, the import of rows recovered from a
 * damaged file in one transaction, and what was salvaged from which file.
 */
import { basename } from 'node:path';
import { TIE_LIMIT, TIE_OVERFLOW } from '../tie-break.js';
import type { DamagedFile, ImportResult, RecoveredBatch, SalvageProgress } from '../types.js';
import { entryOf } from './points.js';
import { auditRow, deadLetterRow, restore } from './rows.js';
import type { StoreState, Parts } from './state.js';

export class SalvagePart {
  constructor(
    private readonly s: StoreState,
    private readonly p: Parts,
  ) {}

  historyAnchor(): { readings: number; audit: number } {
    return {
      readings: Math.min(0, Number(this.s.st.minSeq.get() ?? 0)),
      audit: Math.min(0, Number(this.s.db.prepare('SELECT coalesce(min(seq), 0) FROM audit').pluck().get())),
    };
  }

  importRecovered(b: RecoveredBatch): ImportResult {
    const out: ImportResult = { readings: 0, history: 0, audits: 0, deadLetters: 0, losses: 0, full: false };
    const rows = b.readings ?? [];
    // old rows never push out live ones InfluxDB has not got: only forwarded history makes room
    if (rows.length > 0 && this.p.room.admit(rows.length, false) !== undefined) return { ...out, full: true };
    const historySeq = (anchor: number, cursor: number | undefined, oldSeq: number) =>
      cursor !== undefined && oldSeq <= cursor ? anchor - 1 - (cursor - oldSeq) : undefined;
    const insertAuditAt = this.s.db.prepare(
      'INSERT OR IGNORE INTO audit(seq, ts, actor, system, action, route, device, tag, value, result, detail) VALUES (@seq, @ts, @actor, @system, @action, @route, @device, @tag, @value, @result, @detail)',
    );
    const insertLoss = this.s.db.prepare('INSERT INTO losses(device, reason, from_ts, to_ts, count, open) VALUES (?, ?, ?, ?, ?, 0)');
    // ties at (series, ts): the table's, and those this import gave (its last point may not be written yet)
    const given = new Map<string, Set<number>>();
    const tiesAt = (dev: number, sid: number, ts: number): Set<number> => {
      const k = `${sid}:${ts}`;
      let t = given.get(k);
      if (t === undefined) given.set(k, (t = this.s.tiesAt(dev, sid, ts)));
      return t;
    };
    try {
      this.s.db
        .transaction(() => {
          // another connection (the running gateway) may have written since: continue its seq.
          // Ties are looked up in the table, inside this write lock: the gateway's commits and ours
          // cannot interleave, and the gateway re-reads its ties after ours (data_version).
          this.p.open.loadSeq();
          const points = this.p.commit.pointBuilder();
          for (const r of rows) {
            const sid = this.p.commit.seriesId(r.measurement, r.device, r.tag, r.kind);
            const dev = this.s.seriesById.get(sid)!.dev;
            const ts = Math.trunc(r.ts);
            const history = historySeq(b.anchor.readings, b.cursor.readings, r.oldSeq);
            let { tie, quality, error } = r;
            // backlog keeps its tie (the point it was meant to be) unless a live reading has it:
            // then the next free one. History keeps its tie: InfluxDB has it there, never sent again.
            const taken = tiesAt(dev, sid, ts);
            if (history === undefined && taken.has(tie)) {
              tie = Math.max(-1, ...taken) + 1;
              if (tie >= TIE_LIMIT && quality < 2) {
                quality = 2;
                error = TIE_OVERFLOW;
              }
            }
            const seq = history ?? this.s.nextSeq++;
            taken.add(tie);
            points.add(seq, dev, ts, sid, entryOf(r.kind, restore(r.kind, r.value, r.text), quality, error, tie));
            out.readings++;
            if (history !== undefined) out.history++;
          }
          points.end();
          this.s.st.addMeta.run(out.readings, 'count:readings');
          this.s.st.setMeta.run('seq:readings', this.s.nextSeq - 1);
          for (const a of b.audits ?? []) {
            const { row, bytes } = auditRow(a);
            const seq = historySeq(b.anchor.audit, b.cursor.audit, a.oldSeq);
            const res = seq === undefined ? this.s.st.insertAudit.run(row) : insertAuditAt.run({ ...row, seq });
            if (res.changes === 0) continue;
            if (seq === undefined) this.s.lastAuditSeq = Number(res.lastInsertRowid);
            this.s.junkBytes.audit += bytes;
            out.audits++;
          }
          for (const d of b.deadLetters ?? []) {
            const { row, bytes } = deadLetterRow(d);
            this.s.st.insertDeadLetter.run(row);
            this.s.junkBytes.deadLetters += bytes;
            out.deadLetters++;
          }
          for (const l of b.losses ?? []) {
            insertLoss.run(l.device, l.reason, l.from, l.to, l.count);
            out.losses++;
          }
          // how far the file was read, in the same transaction: a run stopped here resumes after it
          if (b.progress) {
            const rec = this.p.open.damagedRecord(b.progress.file);
            rec.progress = { readings: 0, other: 0, ...rec.progress, ...b.progress.done };
            this.s.st.setMeta.run(`damaged:${basename(b.progress.file)}`, JSON.stringify(rec));
          }
        })
        .immediate();
    } finally {
      // our rows went in beside the TieBreaker: its cache (rebuilt with the id caches) no longer
      // knows the newest ties
      this.p.commit.reloadSeriesCache();
    }
    return out;
  }

  /** notes in the live store that a damaged file was salvaged (stats().damaged shows it) */
  recordSalvage(file: string, result: { readings: number; audits: number; deadLetters: number }): void {
    const rec = this.p.open.damagedRecord(file);
    rec.salvaged = { at: this.s.clock.now(), ...result };
    this.s.st.setMeta.run(`damaged:${basename(file)}`, JSON.stringify(rec));
  }

  /** what recordSalvage noted for a file of this name, if anything */
  salvaged(file: string): DamagedFile['salvaged'] | undefined {
    return this.p.open.damagedRecord(file).salvaged;
  }

  salvageProgress(file: string): SalvageProgress {
    return { readings: 0, other: 0, ...this.p.open.damagedRecord(file).progress };
  }
}
