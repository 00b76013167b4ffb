/**
 * The hub's only state: a short cache of computed figures (recomputable at any time from InfluxDB,
 * so any number of hubs can run side by side and any of them can restart). An entry older than
 * its ttl is recomputed; while that runs, callers get the previous value (stale while
 * revalidate) so a page never waits on InfluxDB except the very first time. One computation per
 * key at a time; a failed computation is not cached (the next call tries again) but callers that
 * have a previous value keep getting it, with the error reported beside it.
 */
export interface Cached<T> {
  value: T;
  /** when the value was computed (ms) */
  at: number;
  /** the last refresh failed with this (the value is older than ttl) */
  error?: string;
}

interface Entry<T> {
  value?: T;
  at: number;
  error?: string;
  running?: Promise<void>;
  touched: number;
}

export class FigureCache {
  private readonly entries = new Map<string, Entry<unknown>>();
  hits = 0;
  misses = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * The value of `key`, computed by `compute` when missing; when older than `ttlMs`, recomputed in
   * the background (the old value is returned meanwhile), or, with `{ stale: false }`, awaited.
   */
  async get<T>(key: string, ttlMs: number, compute: () => Promise<T>, opts: { stale?: boolean } = {}): Promise<Cached<T>> {
    const t = this.now();
    let e = this.entries.get(key) as Entry<T> | undefined;
    if (!e) this.entries.set(key, (e = { at: 0, touched: t }));
    e.touched = t;
    const fresh = e.value !== undefined && t - e.at < ttlMs && t >= e.at;
    if (fresh) {
      this.hits++;
      return { value: e.value as T, at: e.at };
    }
    this.misses++;
    const entry = e;
    entry.running ??= (async () => {
      try {
        const v = await compute();
        entry.value = v;
        entry.at = this.now();
        delete entry.error;
      } catch (err) {
        entry.error = err instanceof Error ? err.message : String(err);
        if (entry.value === undefined) throw err;
      } finally {
        delete entry.running;
      }
    })();
    if (entry.value !== undefined && opts.stale !== false) {
      entry.running.catch(() => undefined);
      return { value: entry.value as T, at: entry.at, ...(entry.error ? { error: entry.error } : {}) };
    }
    await entry.running;
    return { value: entry.value as T, at: entry.at, ...(entry.error ? { error: entry.error } : {}) };
  }

  /** Drops entries nobody asked for in `idleMs` (so keys of past days do not pile up). */
  sweep(idleMs: number): void {
    const t = this.now();
    for (const [k, e] of this.entries) if (!e.running && t - e.touched > idleMs) this.entries.delete(k);
  }

  get size(): number {
    return this.entries.size;
  }
}
