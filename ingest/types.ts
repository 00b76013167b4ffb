/**
 * The embedded store's contract (ingest/store/ implements it on SQLite in WAL mode). It is the
 * store-and-forward buffer and the local history at once: every row has a monotonically growing
 * `seq`, the forwarder's cursor. By role: SinkStore, ForwardStore, HistoryStore, AuditStore,
 * VerifyStore and SalvageStore, whose intersection (with what only the owner does) is Store.
 */
import type { DeadLetter, FieldKind, Quality, Reading, Sink, Value } from '../adapters/types.js';
import type { LossEpisode, LossTotal } from './losses.js';

export type { LossEpisode, LossReason, LossTotal } from './losses.js';

/** Where a stored series goes in InfluxDB: device data, or the gateway's own status points. */
export type Measurement = 'data' | 'status';

export interface StoredReading {
  seq: number;
  measurement: Measurement;
  /** device id; '' for gateway-level status (the heartbeat) */
  device: string;
  tag: string;
  kind: FieldKind;
  ts: number;
  value: Value | null;
  quality: Quality;
  error?: string;
  /**
   * rank of this reading among the readings of its series stored with the same ts (absent = 0):
   * written to InfluxDB as ts ms + tie ns, so no two readings of a series share a point
   */
  tie?: number;
}

export interface ReadingQuery {
  device?: string;
  tag?: string;
  /** inclusive, ms */
  from?: number;
  /** exclusive, ms */
  to?: number;
  measurement?: Measurement;
  limit?: number;
  order?: 'asc' | 'desc';
}

/** One audited API access: a read by a consumer system or a command to a device. */
export interface AuditRecord {
  ts: number;
  /** token name (e.g. "mes"); "anonymous" for loopback access without tokens */
  actor: string;
  /** consumer system (MES, ERP, platform) */
  system: string;
  action: 'read' | 'write';
  /** e.g. "GET /api/devices/:id/history" */
  route: string;
  device?: string;
  tag?: string;
  /** the value written, as text */
  value?: string;
  result: 'ok' | 'denied' | 'error';
  detail?: string;
}

export interface StoredAudit extends AuditRecord {
  seq: number;
}

export interface StoredDeadLetter extends DeadLetter {
  id: number;
}

/** While the store cannot take readings without losing some (the store-full alarm). */
export interface StoreFull {
  /**
   * disk: the filesystem has no room, readings are refused (counted per device);
   * maxSize: the size limit is reached with nothing forwarded left to drop, so the oldest unforwarded
   * readings are dropped to make room (counted), or new ones refused when there is nothing to drop
   */
  reason: 'disk' | 'maxSize';
  /** ms epoch when the episode began */
  since: number;
  /** readings refused since then */
  refused: number;
  /** unforwarded readings dropped since then to make room */
  dropped: number;
}

/** A store file found damaged and moved aside (the store-damaged alarm until it is salvaged). */
export interface DamagedFile {
  /** where the damaged file now is */
  file: string;
  /** ms epoch when it was moved aside */
  at: number;
  /** what was wrong with it */
  error: string;
  /** set once `fgw store salvage` has read it into the live store */
  salvaged?: { at: number; readings: number; audits: number; deadLetters: number };
}

export interface StoreStats {
  /** bytes on disk: database, WAL, wal-index and the reserve file */
  sizeBytes: number;
  /** storage.maxSize */
  maxSizeBytes: number;
  readings: number;
  /** readings not yet acknowledged by InfluxDB (0 without a forwarder) */
  backlog: number;
  oldestTs?: number;
  newestTs?: number;
  /** readings dropped by retention or maxSize since the store was created */
  dropped: number;
  /** of `dropped`, those dropped before the forwarder had sent them */
  droppedUnforwarded: number;
  /** set while the store is full */
  full?: StoreFull;
  /** readings lost (never stored, or dropped before InfluxDB had them) since the store was created */
  lost: number;
  /** `lost` per device and reason (the loss ledger's totals) */
  losses: LossTotal[];
  /** dead letters kept now */
  deadLetters: number;
  /** dead letters ever received; received = kept + dropped */
  deadLettersReceived: number;
  /** dead letters dropped: by their share of the store (oldest first), by retention, or refused while full */
  deadLettersDropped: number;
  /** audit records dropped by their share of the store, by retention, or refused while full */
  auditDropped: number;
  /** of `auditDropped`, those InfluxDB never got */
  auditDroppedUnforwarded: number;
  /** damaged store files moved aside beside this one */
  damaged: DamagedFile[];
}

/** A reading read from a damaged store file by `fgw store salvage`. */
export interface RecoveredReading {
  measurement: Measurement;
  device: string;
  tag: string;
  kind: FieldKind;
  ts: number;
  value: number | null;
  text: string | null;
  /** 0 good, 1 uncertain, 2 bad */
  quality: number;
  error: string | null;
  /** its seq in the damaged file */
  oldSeq: number;
  /**
   * its tie in the damaged file (0 in a file from before the tie column): importRecovered keeps it,
   * unless it is backlog and the live store has that tie already (then the next free one)
   */
  tie: number;
}

export interface RecoveredAudit extends AuditRecord {
  oldSeq: number;
}

/**
 * Rows recovered from a damaged file. Those at or below the damaged file's cursors were in
 * InfluxDB already: they go in as local history only, at seq `anchor - 1 - (cursor - oldSeq)`
 * (below every live seq, in their old order: never forwarded, the first the size limit drops).
 * The others get new seqs and are forwarded like any backlog. `cursor` undefined: the damaged
 * file's cursor could not be read, so everything is forwarded (each at the ms and tie it had, so
 * readings InfluxDB had land on their own points again and are not doubled).
 */
export interface RecoveredBatch {
  anchor: { readings: number; audit: number };
  cursor: { readings?: number; audit?: number };
  readings?: RecoveredReading[];
  audits?: RecoveredAudit[];
  deadLetters?: DeadLetter[];
  losses?: Array<Pick<LossEpisode, 'device' | 'reason' | 'from' | 'to' | 'count'>>;
  /** how far the salvage of `file` has read, saved in the same transaction (salvageProgress) */
  progress?: { file: string; done: Partial<SalvageProgress> };
}

/**
 * How far `fgw store salvage` has imported a damaged file: readings (rows of `readings`, or the entries of `points`), and rows of the other
 * tables taken together, in the order the reader gives them (the same for the same file), so a
 * salvage run again (after a full store, or killed) imports only what it had not.
 */
export interface SalvageProgress {
  readings: number;
  other: number;
}

export interface ImportResult {
  /** readings imported (history included) */
  readings: number;
  /** of them, as local history (InfluxDB had them) */
  history: number;
  audits: number;
  deadLetters: number;
  losses: number;
  /** the live store had no room: nothing of this batch was imported */
  full: boolean;
}

export interface WriteOptions {
  /**
   * The writer keeps the readings and writes them again when the store refuses them (MQTT, which
   * holds the PUBACK until they are stored): a refusal is then not counted as a loss.
   */
  retried?: boolean;
}

/** One slot count row: `slot` is floor((ts - from) / slotMs) for the query's `from`. */
export interface SlotCount {
  slot: number;
  good: number;
  bad: number;
}

/**
 * The sink role: what an adapter writes into (adapters/types.ts Sink, with the store's own options
 * for write). Every adapter, and the forwarder's dead letters (InfluxDB refused a line).
 */
export interface SinkStore extends Sink {
  /**
   * Commits readings (group commit). Rejects with GW_ERR_STORE_FULL when the store has no room
   * (the readings are counted per device as lost unless `opts.retried`), GW_ERR_STORE when the
   * commit fails otherwise.
   */
  write(readings: readonly Reading[], opts?: WriteOptions): Promise<void>;
  deadLetter(entry: DeadLetter): void;
}

/**
 * The forward role: what a consumer of the readings stream needs (the InfluxDB forwarder,
 * ingest/forwarder.ts, and the northbound publisher, ingest/north.ts). Rows in seq order after a
 * named cursor, the cursor itself, where the stream ends, what is still to send and what the
 * limits dropped before it was sent.
 */
export interface ForwardStore {
  /**
   * forwarding: rows after `cursor` in seq order. Every row is returned, bad-quality ones included:
   * the line formatter skips them (no value to write) and the cursor still advances past them.
   */
  readForward(stream: 'readings', cursor: number, limit: number): StoredReading[];
  readForward(stream: 'audit', cursor: number, limit: number): StoredAudit[];
  /**
   * A named cursor (0 when never set). 'readings' (the InfluxDB forwarder) and 'audit' are the
   * forwarder's; any other name is a position in the readings stream of another consumer (a
   * northbound target: `north:<name>`), whose drops the limits count apart (droppedUnforwarded).
   */
  getCursor(name: string): number;
  setCursor(name: string, seq: number): void;
  /** (added) the seq of the newest committed reading or status row; 0 when none was ever stored */
  headSeq(): number;
  /** (added) readings and status rows after the named readings cursor (stats().backlog is backlog('readings')) */
  backlog(cursor: string): number;
  /**
   * (added) readings that retention or maxSize dropped before the named readings cursor had passed
   * them, since that cursor was first set ('readings': stats().droppedUnforwarded)
   */
  droppedUnforwarded(cursor: string): number;
  /**
   * (added; optional) called after each group commit of readings/status rows with the number of
   * rows committed; returns an unsubscribe function. The forwarder uses it to send a full batch at
   * once instead of waiting for flushInterval.
   */
  onCommit?(listener: (rows: number) => void): () => void;
}

/**
 * The history role: the local history as the API reads it (gateway/api/routes, `fgw query`, the
 * northbound targets' latest values): readings, dead letters and the store's figures.
 */
export interface HistoryStore {
  query(q: ReadingQuery): StoredReading[];
  /** the newest reading of each (device, tag), data measurement only */
  latest(device?: string): StoredReading[];
  /** newest first */
  deadLetters(q?: { limit?: number; source?: string }): StoredDeadLetter[];
  stats(): StoreStats;
}

/**
 * The audit role: the audit trail of API access. The API's hook appends to it (gateway/api/audit.ts,
 * gateway/north.ts for northbound commands); /api/audits and the verifier read it.
 */
export interface AuditStore {
  appendAudit(a: AuditRecord): void;
  /** audit records in [from, to), ascending by ts */
  audits(q: { from?: number; to?: number; action?: 'read' | 'write'; device?: string; limit?: number }): StoredAudit[];
}

/**
 * The verifier's role (verify/source-store.ts): aggregates computed in SQL over the (dev, ts)
 * index, and the loss ledger. The API uses slotCounts (/api/networking) and losses (/api/losses) too.
 */
export interface VerifyStore {
  /**
   * good/bad counts per slot for one device (data measurement), aggregated in SQL. `good` counts
   * readings of good quality and, unless `uncertainIsGood` is false, of uncertain quality (default
   * true: not bad); `bad` counts bad ones.
   */
  slotCounts(q: { device: string; from: number; to: number; slotMs: number; tags?: string[]; uncertainIsGood?: boolean }): SlotCount[];
  /** tags of a device that had at least one good reading in [from, to) (`uncertainIsGood` as for slotCounts) */
  tagsSeen(q: { device: string; from: number; to: number; uncertainIsGood?: boolean }): string[];
  /**
   * slots (floor((ts - from) / slotMs)) in [from, to) holding at least one gateway heartbeat
   * (measurement 'status', device '', tag 'heartbeat'), ascending
   */
  heartbeatSlots(q: { from: number; to: number; slotMs: number }): number[];
  /** the newest good reading time of a device before `to` (`uncertainIsGood` as for slotCounts) */
  lastGoodTs(q: { device: string; to: number; uncertainIsGood?: boolean }): number | undefined;
  /** loss episodes overlapping [from, to) by the lost readings' timestamps, oldest first */
  losses(q?: { from?: number; to?: number; device?: string }): LossEpisode[];
}

/**
 * The salvage role: what `fgw store salvage` (ingest/salvage.ts, gateway/cli/store.ts) needs of the
 * live store to read a damaged file into it.
 */
export interface SalvageStore {
  /** `fgw store salvage`: where history rows of an import go (below every seq in the store) */
  historyAnchor(): { readings: number; audit: number };
  /** `fgw store salvage`: rows read from a damaged store file, in one transaction (ingest/salvage.ts) */
  importRecovered(batch: RecoveredBatch): ImportResult;
  /** `fgw store salvage`: notes that a damaged file was read into this store (stats().damaged) */
  recordSalvage(file: string, result: { readings: number; audits: number; deadLetters: number }): void;
  /** what recordSalvage noted for a file of this name */
  salvaged(file: string): DamagedFile['salvaged'] | undefined;
  /** how far earlier salvages of a file of this name got (0, 0 for none) */
  salvageProgress(file: string): SalvageProgress;
}

/**
 * The embedded store: every role above, and what only its owner does (gateway/runtime.ts: the
 * gateway's status rows, the limits, closing). Callers type their parameter by the narrowest role
 * they use.
 */
export interface Store extends SinkStore, ForwardStore, HistoryStore, AuditStore, VerifyStore, SalvageStore {
  /** status/heartbeat rows: same table, measurement 'status' */
  writeStatus(readings: readonly Reading[]): Promise<void>;
  /** applies retention and maxSize now (also runs on a timer); returns readings dropped */
  enforceLimits(): number;
  /** flushes pending group commits and closes the database */
  close(): Promise<void>;
}
