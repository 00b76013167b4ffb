/**
 * The embedded store's contract (ingest/store.ts implements it on SQLite in WAL mode). It is the
 * store-and-forward buffer and the local history at once: every row has a monotonically growing
 * `seq`, the forwarder's cursor.
 */
import type { DeadLetter, FieldKind, Quality, Reading, Sink, Value } from '../adapters/types.js';

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

export interface StoreStats {
  /** bytes on disk (database + WAL) */
  sizeBytes: number;
  readings: number;
  /** readings not yet acknowledged by InfluxDB (0 without a forwarder) */
  backlog: number;
  oldestTs?: number;
  newestTs?: number;
  /** readings dropped by retention or maxSize since the store was created */
  dropped: number;
  /** of `dropped`, those dropped before the forwarder had sent them (added; optional) */
  droppedUnforwarded?: number;
  deadLetters: number;
}

/** One slot count row: `slot` is floor((ts - from) / slotMs) for the query's `from`. */
export interface SlotCount {
  slot: number;
  good: number;
  bad: number;
}

export interface Store extends Sink {
  write(readings: readonly Reading[]): Promise<void>;
  /** status/heartbeat rows: same table, measurement 'status' */
  writeStatus(readings: readonly Reading[]): Promise<void>;
  deadLetter(entry: DeadLetter): void;

  query(q: ReadingQuery): StoredReading[];
  /** the newest reading of each (device, tag), data measurement only */
  latest(device?: string): StoredReading[];
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

  appendAudit(a: AuditRecord): void;
  /** audit records in [from, to), ascending by ts */
  audits(q: { from?: number; to?: number; action?: 'read' | 'write'; device?: string; limit?: number }): StoredAudit[];
  /** newest first */
  deadLetters(q?: { limit?: number; source?: string }): StoredDeadLetter[];

  /**
   * forwarding: rows after `cursor` in seq order. Every row is returned, bad-quality ones included:
   * the line formatter skips them (no value to write) and the cursor still advances past them.
   */
  readForward(stream: 'readings', cursor: number, limit: number): StoredReading[];
  readForward(stream: 'audit', cursor: number, limit: number): StoredAudit[];
  getCursor(stream: 'readings' | 'audit'): number;
  setCursor(stream: 'readings' | 'audit', seq: number): void;

  /** applies retention and maxSize now (also runs on a timer); returns readings dropped */
  enforceLimits(): number;
  stats(): StoreStats;
  /**
   * (added; optional) called after each group commit of readings/status rows with the number of
   * rows committed; returns an unsubscribe function. The forwarder uses it to send a full batch at
   * once instead of waiting for flushInterval.
   */
  onCommit?(listener: (rows: number) => void): () => void;
  /** flushes pending group commits and closes the database */
  close(): Promise<void>;
}
