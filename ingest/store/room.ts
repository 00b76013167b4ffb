/**
 * Room for a commit: the room left under maxSize and on the disk, making room by dropping the oldest
 * readings, the store-full, store-error and maxSize episodes and their loss points, the reserve.
 *
 * Room (ingest/disk.ts has the arithmetic). maxSize bounds everything the store puts on disk: the
 * database, the WAL (its own budget, checkpointed at half of it and truncated back to it), the
 * wal-index and a reserve. Before each commit the store computes the room left under maxSize and
 * on the filesystem, both keeping the reserve; when the commit would not fit it first drops the
 * oldest readings InfluxDB already has, then, only against maxSize, the oldest unforwarded ones
 * (counted in the loss ledger); when that is not enough, or the disk is what is full, the commit is
 * refused: its readings are counted per device in the ledger, the writers get GW_ERR_STORE_FULL,
 * and the store is "full" (one log line when it starts and one when it ends, with counts). While
 * full it takes readings again only once there is room for the commit plus the reserve, so it does
 * not flap. The reserve is what cursors, counters, the ledger and the alarm are written into: the
 * forwarder can always save its cursor, and every cursor move lets the next commit drop what was
 * forwarded. Should the disk fill under the store anyway (another program), the first SQLITE_FULL
 * deletes the reserve file, which gives those writes their room back.
 */
import type { Reading } from '../../adapters/types.js';
import { ErrorCodes, GatewayError, errorText } from '../../config/errors.js';
import { fileSize, fsStats, roomFor, writeReserve, type Room } from '../disk.js';
import { addToBatch, type LossBatch, type LossEpisode, type LossReason } from '../losses.js';
import { readingsIn } from './points.js';
import { isDiskFull } from './rows.js';
import type { StoreState, Parts } from './state.js';
import type { Batch, Waiter } from './commit.js';

export const DELETE_CHUNK = 20_000;
/** at most this many readings are dropped to make room for one commit (the rest at the next) */
const MAKE_ROOM_MAX_ROWS = 100_000;
export const MIN_RING_QUIET_MS = 10_000;

/**
 * The readings of refused batches, per device, into `losses` (device data only, not the writers
 * that will write them again); returns how many rows the batches had in all.
 */
export function lostIn(batches: readonly Batch[], losses: LossBatch): number {
  let rows = 0;
  for (const b of batches) {
    rows += b.readings.length;
    if (b.measurement !== 'data' || b.retried) continue;
    for (const r of b.readings)
      if (typeof r.device === 'string' && typeof r.ts === 'number' && Number.isFinite(r.ts)) addToBatch(losses, r.device, Math.trunc(r.ts));
  }
  return rows;
}

export class RoomPart {
  constructor(
    private readonly s: StoreState,
    private readonly p: Parts,
  ) {}

  /**
   * At this process's first commit: episodes left open by an earlier process (killed while the store
   * was full) are closed, since their cause ended with it. Not at open: another process (`fgw store
   * salvage`, `fgw query`) may open the store while the gateway's episode is still running.
   */
  closeLeftovers(): void {
    this.s.leftoversClosed = true;
    for (const reason of ['store-full', 'store-error', 'maxSize'] as const) {
      const mine = reason === 'store-full' ? this.s.full : reason === 'store-error' ? this.s.failing : this.s.ring;
      if (!mine) this.closeEpisodes(reason);
    }
  }

  usedBytes(): number {
    return (Number(this.s.st.pageCount.get()) - Number(this.s.st.freelist.get())) * this.s.pageSize;
  }

  room(): Room {
    // a WAL past its budget (one large commit, a long reader) is checkpointed and truncated first:
    // the autocheckpoint has usually copied it already, so this costs little
    if (fileSize(`${this.s.file}-wal`) > this.s.plan.walBytes) {
      try {
        this.s.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        /* busy: counted at its size below */
      }
    }
    const walFileBytes = fileSize(`${this.s.file}-wal`);
    const fsAvailBytes = fsStats(this.s.dir).availBytes;
    this.fitWalToDisk(fsAvailBytes, walFileBytes);
    return roomFor({
      plan: this.s.plan,
      maxSize: this.s.maxSizeBytes,
      pageSize: this.s.pageSize,
      pages: Number(this.s.st.pageCount.get()),
      freePages: Number(this.s.st.freelist.get()),
      walFileBytes,
      shmFileBytes: fileSize(`${this.s.file}-shm`),
      reserveFileBytes: fileSize(this.s.reservePath),
      fsAvailBytes,
    });
  }

  /** bytes a commit of `rows` readings is allowed for: the estimate with a margin, plus a few new pages */
  private need(rows: number): number {
    return Math.ceil(rows * this.s.bytesPerRow * 1.5) + 8 * this.s.pageSize;
  }

  /**
   * Whether a commit of `rows` readings fits, making room by dropping forwarded readings and, against
   * maxSize only, the oldest unforwarded ones. Undefined when it fits; else the room that was short.
   */
  admit(rows: number, mayDropUnforwarded = true): Room | undefined {
    const need = this.need(rows);
    // while full, take readings again only with room for the reserve too (no flapping)
    const want = need + (this.s.full ? this.s.plan.reserveBytes : 0);
    let room = this.room();
    if (room.bytes < want) room = this.makeRoom(want, room, false);
    if (room.bytes < want && room.limit === 'maxSize' && mayDropUnforwarded) room = this.makeRoom(want, room, true);
    if (this.s.ring && this.s.clock.now() - this.s.ring.lastDropAt >= Math.max(this.s.limitsIntervalMs, MIN_RING_QUIET_MS)) this.ringEnded();
    if (room.bytes >= want) {
      if (this.s.full) this.fullEnded();
      return undefined;
    }
    return room;
  }

  /**
   * Drops the oldest readings (those InfluxDB has; with `unforwarded`, any) in chunks small enough
   * for the WAL's budget, until `want` bytes are free or MAKE_ROOM_MAX_ROWS are gone.
   */
  private makeRoom(want: number, room: Room, unforwarded: boolean): Room {
    const forwardedTo = this.p.forward.forwardedUpTo();
    const chunk = Math.max(500, Math.min(DELETE_CHUNK, Math.floor(this.s.plan.walBytes / 400)));
    let dropped = 0;
    while (room.bytes < want && dropped < MAKE_ROOM_MAX_ROWS) {
      const n = Math.max(256, Math.min(chunk, Math.ceil(((want - room.bytes) / this.s.bytesPerRow) * 1.2)));
      const d = unforwarded ? this.dropOldest(n, forwardedTo) : this.dropForwarded(n, forwardedTo);
      if (d === 0) break;
      dropped += d;
      room = this.room();
    }
    return room;
  }

  /** drops up to `n` of the oldest readings with seq ≤ `upTo`; returns how many */
  dropForwarded(n: number, upTo: number): number {
    const d = this.inSmallerSteps(n, (k) =>
      this.s.db.transaction(() => {
        const d = readingsIn(this.s.st.deleteOldestUpTo.all(upTo, this.s.pointsFor(k), upTo) as number[]);
        this.countDropped(d, 0);
        return d;
      })(),
    );
    this.s.dropSummary.forwarded += d;
    return d;
  }

  /**
   * Runs a delete of `n` rows (as a system write); when even that finds no room in the WAL (a
   * disk full to the last byte), tries a quarter of it, down to 64 rows: deleting frees pages,
   * and a small delete needs only a few.
   */
  private inSmallerSteps(n: number, run: (n: number) => number): number {
    for (let k = n; ; k = Math.floor(k / 4)) {
      try {
        return this.s.system(() => run(k));
      } catch (e) {
        if (!isDiskFull(e) || k <= 64) throw e;
      }
    }
  }

  /** drops the `n` oldest readings whatever their seq, counting those after `forwardedTo` as losses */
  dropOldest(n: number, forwardedTo: number): number {
    const losses: LossBatch = new Map();
    let unfwd = 0;
    const d = this.inSmallerSteps(n, (k) =>
      this.s.db.transaction(() => {
        losses.clear();
        unfwd = 0;
        const points = this.s.pointsFor(k);
        for (const [dev, cnt, lo, hi] of this.s.st.oldestUnforwarded.all(forwardedTo, points, forwardedTo) as Array<[number, number, number, number]>) {
          unfwd += cnt;
          const device = this.s.dataDevById.get(dev);
          if (device !== undefined) addToBatch(losses, device, lo, hi, cnt);
        }
        const d = readingsIn(this.s.st.deleteOldest.all(points) as number[]);
        this.countDropped(d, unfwd);
        if (losses.size > 0) this.s.ledger.add('maxSize', losses);
        return d;
      })(),
    );
    this.s.dropSummary.unforwarded += unfwd;
    this.s.dropSummary.forwarded += d - unfwd;
    if (unfwd > 0) {
      const now = this.s.clock.now();
      if (!this.s.ring) {
        this.s.ring = { since: now, dropped: 0, lastDropAt: now };
        this.s.log?.warn(
          { alarm: 'STORE_FULL', reason: 'maxSize', maxSize: this.s.maxSizeBytes },
          'store full (storage.maxSize): dropping the oldest readings InfluxDB has not got yet to make room (counted per device)',
        );
      }
      this.s.ring.dropped += unfwd;
      this.s.ring.lastDropAt = now;
    }
    return d;
  }

  countDropped(dropped: number, unforwarded: number): void {
    this.s.st.addMeta.run(-dropped, 'count:readings');
    this.s.st.addMeta.run(dropped, 'dropped');
    this.s.st.addMeta.run(unforwarded, 'droppedUnforwarded');
  }

  /** The commit does not fit: its readings are counted per device and the writers told. */
  refuse(batches: readonly Batch[], waiters: readonly Waiter[], limit: 'disk' | 'maxSize', cause: unknown): void {
    const rows = lostIn(batches, this.s.unrecorded);
    const now = this.s.clock.now();
    if (!this.s.full) {
      this.s.full = { reason: limit, since: now, refused: 0, dropped: 0 };
      const room = this.safeRoom();
      this.s.log?.error(
        {
          alarm: 'STORE_FULL',
          reason: limit,
          maxSize: this.s.maxSizeBytes,
          fsAvail: room?.fsAvailBytes,
          onDisk: room?.onDiskBytes,
          ...(cause ? { err: errorText(cause) } : {}),
        },
        limit === 'disk'
          ? 'store full: no space left on the disk; readings are not stored (counted per device) until space returns'
          : 'store full: storage.maxSize reached and nothing left to drop; readings are not stored (counted per device)',
      );
    }
    this.s.full.reason = limit;
    this.s.full.refused += rows;
    this.recordLosses();
    const err = new GatewayError(
      ErrorCodes.STORE_FULL,
      limit === 'disk' ? 'the store is full: no space left on the disk' : 'the store is full: storage.maxSize reached',
      cause ? { cause } : {},
    );
    for (const w of waiters) w.reject(err);
  }

  recordLosses(): void {
    if (this.s.unrecorded.size === 0) return;
    try {
      this.s.system(() => this.s.db.transaction(() => this.s.ledger.add('store-full', this.s.unrecorded))());
      this.s.unrecorded.clear();
    } catch (e) {
      // once per episode; kept in memory until a write succeeds
      if (this.s.full && !this.s.full.unrecordedLogged)
        this.s.log?.error({ err: errorText(e) }, 'cannot record lost readings in the store yet: kept in memory until there is room');
      if (this.s.full) this.s.full.unrecordedLogged = true;
    }
  }

  private safeRoom(): Room | undefined {
    try {
      return this.room();
    } catch {
      return undefined;
    }
  }

  private fullEnded(): void {
    const f = this.s.full!;
    this.recordLosses();
    this.s.full = undefined;
    const closed = this.closeEpisodes('store-full');
    this.s.log?.info(
      {
        reason: f.reason,
        ms: this.s.clock.now() - f.since,
        refused: f.refused,
        lost: closed.reduce((a, e) => a + e.count, 0),
        devices: closed.map((e) => e.device),
      },
      'store has room again: readings are stored',
    );
    this.restoreReserve();
  }

  ringEnded(): void {
    const r = this.s.ring!;
    this.s.ring = undefined;
    const closed = this.closeEpisodes('maxSize');
    this.s.log?.info(
      { ms: this.s.clock.now() - r.since, dropped: r.dropped, devices: closed.map((e) => e.device) },
      'store no longer drops readings InfluxDB has not got',
    );
  }

  /** A commit failed for another reason than room: one log line per episode, readings counted. */
  commitFailed(batches: readonly Batch[], waiters: readonly Waiter[], e: unknown): void {
    const losses: LossBatch = new Map();
    const rows = lostIn(batches, losses);
    if (!this.s.failing) {
      this.s.failing = { since: this.s.clock.now(), error: errorText(e), refused: 0 };
      this.s.log?.error(
        { alarm: 'STORE_ERROR', err: errorText(e), rows },
        'store commit failed; readings are not stored (counted per device) until commits succeed again',
      );
    }
    this.s.failing.refused += rows;
    if (losses.size > 0) {
      try {
        this.s.db.transaction(() => this.s.ledger.add('store-error', losses))();
      } catch {
        /* the database refuses even this; the log line above said so */
      }
    }
    const err = new GatewayError(ErrorCodes.STORE, `cannot commit readings: ${errorText(e)}`, { cause: e });
    for (const w of waiters) w.reject(err);
  }

  failingEnded(): void {
    const f = this.s.failing!;
    this.s.failing = undefined;
    this.closeEpisodes('store-error');
    this.s.log?.info({ ms: this.s.clock.now() - f.since, refused: f.refused, err: f.error }, 'store commits succeed again');
  }

  /**
   * Closes the open loss episodes (of one reason, or all) and writes one `gateway_status` point per
   * episode (device tag; fields lost, lostFrom, lostTo, lostReason), stamped with the time it closed
   * (never older than what it describes, so retention cannot drop it before it is forwarded), which
   * the forwarder sends to InfluxDB like any status point. Written into the reserve.
   */
  closeEpisodes(reason: LossReason | undefined): LossEpisode[] {
    let closed: LossEpisode[] = [];
    try {
      this.s.system(() =>
        this.s.db.transaction(() => {
          closed = this.s.ledger.close(reason);
          if (closed.length === 0) return;
          const rows: Reading[] = [];
          const now = this.s.clock.now();
          const next = new Map<string, number>();
          for (const e of closed) {
            // two episodes of one device closing at the same instant must not share a point
            const ts = next.get(e.device) ?? now;
            next.set(e.device, ts + 1);
            rows.push({ device: e.device, tag: 'lost', ts, kind: 'integer', value: e.count, quality: 'good' });
            rows.push({ device: e.device, tag: 'lostFrom', ts, kind: 'integer', value: e.from, quality: 'good' });
            rows.push({ device: e.device, tag: 'lostTo', ts, kind: 'integer', value: e.to, quality: 'good' });
            rows.push({ device: e.device, tag: 'lostReason', ts, kind: 'string', value: e.reason, quality: 'good' });
          }
          this.s.insertTx([{ measurement: 'status', readings: rows, retried: false }], []);
        })(),
      );
    } catch (e) {
      this.s.log?.error({ err: errorText(e) }, 'cannot close loss episodes in the store');
    }
    return closed;
  }

  /**
   * The WAL's checkpoint point follows the disk: while the disk has less room than the WAL's budget,
   * SQLite checkpoints at half of what is left, so that the WAL never grows into a full disk (it
   * could then never be reset, and the store would freeze).
   */
  private fitWalToDisk(fsAvailBytes: number, walFileBytes: number): void {
    const room = Math.min(this.s.plan.walBytes, Math.max(0, fsAvailBytes + walFileBytes));
    const pages = Math.max(8, Math.floor(room / 2 / this.s.pageSize));
    if (pages !== this.s.walCheckpointPages) {
      this.s.walCheckpointPages = pages;
      this.s.db.pragma(`wal_autocheckpoint = ${pages}`);
    }
  }

  /** the reserve file, when missing and the disk has room for it and then some */
  restoreReserve(): void {
    const have = fileSize(this.s.reservePath);
    if (have >= this.s.plan.reserveBytes) return;
    const { availBytes } = fsStats(this.s.dir);
    if (availBytes < 2 * this.s.plan.reserveBytes + this.s.plan.walBytes) return;
    writeReserve(this.s.reservePath, this.s.plan.reserveBytes);
  }
}
