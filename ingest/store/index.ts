/**
 * The embedded durable store on SQLite (better-sqlite3, WAL mode, synchronous=NORMAL): the
 * store-and-forward buffer and the local history at once (ingest/types.ts is the contract, by role).
 *
 * One store is a handful of parts sharing one StoreState (state.ts: the connection, its prepared
 * statements, the caches, the cursors and counters), each given the others (no inheritance):
 * - open.ts: opening the file, pragmas, the schema and its migrations, damage (moved aside, replaced in place)
 * - commit.ts: the group commit, the series and device id caches
 * - room.ts: room under maxSize and on the disk, making room, the store-full episodes, the reserve
 * - limits.ts: the limits pass (retention, the size budget, the junk shares)
 * - audit.ts: dead letters and audit records within their shares
 * - forward.ts: the cursors and what is still to send (the forward role)
 * - history.ts: query, latest, stats, losses (the history role)
 * - slots.ts: the verifier's aggregates
 * - salvage.ts: `fgw store salvage`'s import into the live store
 * - rows.ts: row codes, sizes and conversions
 * SqliteStore below is the Store those parts make together.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { DeadLetter, Reading } from '../../adapters/types.js';
import { ErrorCodes, GatewayError, errorText } from '../../config/errors.js';
import type { LossEpisode } from '../losses.js';
import type {
  AuditRecord,
  DamagedFile,
  ImportResult,
  ReadingQuery,
  RecoveredBatch,
  SalvageProgress,
  SlotCount,
  Store,
  StoreStats,
  StoredAudit,
  StoredDeadLetter,
  StoredReading,
  WriteOptions,
} from '../types.js';
import { AuditPart } from './audit.js';
import { CommitPart } from './commit.js';
import { ForwardPart } from './forward.js';
import { HistoryPart } from './history.js';
import { LimitsPart } from './limits.js';
import { OpenPart } from './open.js';
import { RoomPart } from './room.js';
import { SalvagePart } from './salvage.js';
import { SlotsPart } from './slots.js';
import { StoreState, type OpenStoreOptions, type Parts } from './state.js';

export { STORE_SCHEMA_VERSION } from './open.js';
export { DEFAULT_AUDIT_SHARE, DEFAULT_DEAD_LETTER_SHARE, RESERVE_SUFFIX, STORE_FILE, type OpenStoreOptions } from './state.js';
import { STORE_FILE } from './state.js';

/**
 * The bytes a store's layout takes for what it holds: the pages in use, as a reader sees the file
 * (WAL included, free pages not), which is what the database file settles to once the WAL is
 * checkpointed. Read on a read-only connection, so it may be asked while the gateway runs (the
 * benchmark's bytes per reading).
 */
export function storeBytesInUse(dir: string): number {
  const reader = new Database(join(dir, STORE_FILE), { readonly: true, fileMustExist: true });
  try {
    const pages = Number(reader.pragma('page_count', { simple: true })) - Number(reader.pragma('freelist_count', { simple: true }));
    return pages * Number(reader.pragma('page_size', { simple: true }));
  } finally {
    reader.close();
  }
}

export function openStore(opts: OpenStoreOptions): Store {
  return new SqliteStore(opts);
}

class SqliteStore implements Store {
  private readonly s: StoreState;
  private readonly p: Parts;

  constructor(opts: OpenStoreOptions) {
    const s = (this.s = new StoreState(opts));
    const p = (this.p = {} as Parts);
    p.open = new OpenPart(s, p);
    p.commit = new CommitPart(s, p);
    p.room = new RoomPart(s, p);
    p.audit = new AuditPart(s, p);
    p.history = new HistoryPart(s, p);
    p.slots = new SlotsPart(s, p);
    p.forward = new ForwardPart(s, p);
    p.salvage = new SalvagePart(s, p);
    p.limits = new LimitsPart(s, p);
    p.open.open();
    // the first pass runs in steps right after opening (a store reopened after weeks may have a lot
    // to drop); then every limitsIntervalMs
    if (this.s.limitsIntervalMs > 0) setImmediate(() => void this.p.limits.runLimitsInSteps());
    this.p.limits.armLimitsTimer();
    this.p.open.startBackgroundCheck();
  }

  // ---------------------------------------------------------------- sink (commit.ts, audit.ts)

  write(readings: readonly Reading[], opts?: WriteOptions): Promise<void> {
    return this.p.commit.write(readings, opts);
  }

  writeStatus(readings: readonly Reading[]): Promise<void> {
    return this.p.commit.writeStatus(readings);
  }

  deadLetter(entry: DeadLetter): void {
    this.p.audit.deadLetter(entry);
  }

  onCommit(listener: (rows: number) => void): () => void {
    return this.p.commit.onCommit(listener);
  }

  // ---------------------------------------------------------------- history (history.ts, slots.ts, audit.ts)

  query(q: ReadingQuery): StoredReading[] {
    return this.p.history.query(q);
  }

  latest(device?: string): StoredReading[] {
    return this.p.history.latest(device);
  }

  stats(): StoreStats {
    return this.p.history.stats();
  }

  losses(q?: { from?: number; to?: number; device?: string }): LossEpisode[] {
    return this.p.history.losses(q);
  }

  slotCounts(q: { device: string; from: number; to: number; slotMs: number; tags?: string[]; uncertainIsGood?: boolean }): SlotCount[] {
    return this.p.slots.slotCounts(q);
  }

  tagsSeen(q: { device: string; from: number; to: number; uncertainIsGood?: boolean }): string[] {
    return this.p.slots.tagsSeen(q);
  }

  heartbeatSlots(q: { from: number; to: number; slotMs: number }): number[] {
    return this.p.slots.heartbeatSlots(q);
  }

  lastGoodTs(q: { device: string; to: number; uncertainIsGood?: boolean }): number | undefined {
    return this.p.slots.lastGoodTs(q);
  }

  appendAudit(a: AuditRecord): void {
    this.p.audit.appendAudit(a);
  }

  audits(q: { from?: number; to?: number; action?: 'read' | 'write'; device?: string; limit?: number }): StoredAudit[] {
    return this.p.audit.audits(q);
  }

  deadLetters(q?: { limit?: number; source?: string }): StoredDeadLetter[] {
    return this.p.audit.deadLetters(q);
  }

  // ---------------------------------------------------------------- forwarding (forward.ts)

  readForward(stream: 'readings', cursor: number, limit: number): StoredReading[];
  readForward(stream: 'audit', cursor: number, limit: number): StoredAudit[];
  readForward(stream: 'readings' | 'audit', cursor: number, limit: number): StoredReading[] | StoredAudit[] {
    return stream === 'readings' ? this.p.forward.readForward(stream, cursor, limit) : this.p.forward.readForward(stream, cursor, limit);
  }

  getCursor(name: string): number {
    return this.p.forward.getCursor(name);
  }

  setCursor(name: string, seq: number): void {
    this.p.forward.setCursor(name, seq);
  }

  headSeq(): number {
    return this.p.forward.headSeq();
  }

  backlog(cursor: string): number {
    return this.p.forward.backlog(cursor);
  }

  droppedUnforwarded(cursor: string): number {
    return this.p.forward.droppedUnforwarded(cursor);
  }

  // ---------------------------------------------------------------- salvage (salvage.ts)

  historyAnchor(): { readings: number; audit: number } {
    return this.p.salvage.historyAnchor();
  }

  importRecovered(batch: RecoveredBatch): ImportResult {
    return this.p.salvage.importRecovered(batch);
  }

  recordSalvage(file: string, result: { readings: number; audits: number; deadLetters: number }): void {
    this.p.salvage.recordSalvage(file, result);
  }

  salvaged(file: string): DamagedFile['salvaged'] | undefined {
    return this.p.salvage.salvaged(file);
  }

  salvageProgress(file: string): SalvageProgress {
    return this.p.salvage.salvageProgress(file);
  }

  // ---------------------------------------------------------------- limits, closing

  enforceLimits(): number {
    return this.p.limits.enforceLimits();
  }

  async close(): Promise<void> {
    if (this.s.closed) return;
    this.p.commit.flush();
    this.p.room.recordLosses();
    this.p.audit.saveJunkBytes();
    // the episodes this process has open end with it (another process's are its own business)
    if (this.s.full) this.p.room.closeEpisodes('store-full');
    if (this.s.failing) this.p.room.closeEpisodes('store-error');
    if (this.s.ring) this.p.room.closeEpisodes('maxSize');
    this.s.closed = true;
    this.s.checker?.stop();
    this.s.clock.clearTimeout(this.s.limitsTimer);
    this.s.listeners.clear();
    try {
      this.s.db.close();
    } catch (e) {
      throw new GatewayError(ErrorCodes.STORE, `cannot close the store: ${errorText(e)}`, { cause: e });
    }
  }
}
