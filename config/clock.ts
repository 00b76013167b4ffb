/**
 * An injected clock: supervision, backoff and slot arithmetic take a Clock so
 * tests can drive time without sleeping. Production code uses `systemClock`.
 */
export interface TimerHandle {
  readonly __timer: unknown;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  /** Resolves after `ms` on this clock (never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Node's timers hold at most 2^31-1 ms; a longer delay would fire after 1 ms */
const NODE_TIMER_MAX = 2 ** 31 - 1;

/**
 * setTimeout for any delay: one beyond Node's 2^31-1 ms is chained in steps instead of firing at
 * once. The handle's `__timer` is the step running now (clearTimeout it to cancel; an unref() of
 * it carries over to the next step).
 */
export function longTimeout(fn: () => void, ms: number): { __timer: NodeJS.Timeout } {
  const h = {} as { __timer: NodeJS.Timeout };
  const arm = (left: number) => {
    const ref = h.__timer?.hasRef() ?? true;
    h.__timer = setTimeout(() => (left > NODE_TIMER_MAX ? arm(left - NODE_TIMER_MAX) : fn()), Math.min(Math.max(0, left), NODE_TIMER_MAX));
    if (!ref) h.__timer.unref();
  };
  arm(ms);
  return h;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => longTimeout(fn, ms),
  clearTimeout: (h) => {
    if (h) clearTimeout(h.__timer as NodeJS.Timeout);
  },
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = longTimeout(done, ms);
      function done() {
        signal?.removeEventListener('abort', done);
        clearTimeout(t.__timer);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** A manual clock for tests: time moves only when `advance` is called. */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return { __timer: id };
  }
  clearTimeout(h: TimerHandle | undefined): void {
    if (h) this.timers.delete(h.__timer as number);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = () => {
        this.clearTimeout(h);
        resolve();
      };
      const h = this.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  /** Moves time forward, firing due timers in order; awaits microtasks between them. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
      await new Promise((r) => setImmediate(r));
    }
    this.t = end;
    await new Promise((r) => setImmediate(r));
  }
  pending(): number {
    return this.timers.size;
  }
}
