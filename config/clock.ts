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
