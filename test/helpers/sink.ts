/**
 * The adapters' Sink (adapters/types.ts) as a test double of the durable store: it keeps what it is
 * given in memory. A commit can be made slow (`commitMs`: a busy store), held until release()
 * (`hold`: no real store can be made to hang on demand) or failed (`failNext`: a disk I/O error).
 */
import type { DeadLetter, Reading, Sink } from '../../adapters/types.js';

export interface MemorySinkOptions {
  /** every commit resolves this many ms after the write (a busy store) */
  commitMs?: number;
  /** commits pend until release(): every one (true) or those the function picks */
  hold?: boolean | ((readings: readonly Reading[]) => boolean);
}

export class MemorySink implements Sink {
  /** the readings committed, in commit order (a held or slow write's once it resolved) */
  readonly readings: Reading[] = [];
  /** the readings of every write() call, in call order: failed, held and pending ones too */
  readonly batches: Reading[][] = [];
  readonly dead: DeadLetter[] = [];
  /** how many of the next writes reject, as a store with an I/O error does */
  failNext = 0;
  private releases: Array<() => void> = [];

  constructor(private readonly opts: MemorySinkOptions = {}) {}

  write(readings: readonly Reading[]): Promise<void> {
    const batch = [...readings];
    this.batches.push(batch);
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new Error('disk I/O error (simulated)'));
    }
    const { hold, commitMs } = this.opts;
    const commit = () => void this.readings.push(...batch);
    if (typeof hold === 'function' ? hold(readings) : hold) return new Promise((resolve) => this.releases.push(() => (commit(), resolve())));
    if (commitMs !== undefined) return new Promise((resolve) => setTimeout(() => (commit(), resolve()), commitMs));
    commit();
    return Promise.resolve();
  }

  deadLetter(entry: DeadLetter): void {
    this.dead.push(entry);
  }

  /** commits every held write */
  release(): void {
    for (const r of this.releases.splice(0)) r();
  }

  /** committed readings of a tag: `of(tag)` of any device, `of(device, tag)` of one */
  of(...key: [tag: string] | [device: string, tag: string]): Reading[] {
    const [device, tag] = key.length === 1 ? [undefined, key[0]] : key;
    return this.readings.filter((r) => r.tag === tag && (device === undefined || r.device === device));
  }

  /** the last committed reading of a tag (see of) */
  last(...key: [tag: string] | [device: string, tag: string]): Reading | undefined {
    return this.of(...key).at(-1);
  }

  /** how many good readings of a tag were committed (one per successful poll of it; see of) */
  good(...key: [tag: string] | [device: string, tag: string]): number {
    return this.of(...key).filter((r) => r.quality === 'good').length;
  }
}
