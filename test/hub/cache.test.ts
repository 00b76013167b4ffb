/**
 * The hub's figure cache: computed once per key, reused within its ttl, recomputed after it (the
 * old value served meanwhile, or awaited with stale: false), failures not cached.
 */
import { describe, expect, it } from 'vitest';
import { FigureCache } from '../../gateway/hub/cache.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => ((resolve = a), (reject = b)));
  return { promise, resolve, reject };
}

describe('FigureCache', () => {
  it('computes once within the ttl, serves the old value while recomputing after it', async () => {
    let now = 1000;
    const c = new FigureCache(() => now);
    let calls = 0;
    const first = await c.get('k', 100, async () => ++calls);
    expect(first).toEqual({ value: 1, at: 1000 });
    expect((await c.get('k', 100, async () => ++calls)).value).toBe(1);
    now = 1100;
    const next = deferred<number>();
    const stale = await c.get('k', 100, () => next.promise);
    expect(stale.value).toBe(1); // not waiting for the recomputation
    next.resolve(2);
    await next.promise;
    await new Promise((r) => setTimeout(r, 0));
    expect((await c.get('k', 100, async () => 99)).value).toBe(2);
    expect(calls).toBe(1);
  });

  it('stale: false waits for the recomputation', async () => {
    let now = 0;
    const c = new FigureCache(() => now);
    await c.get('k', 10, async () => 'old');
    now = 10;
    expect((await c.get('k', 10, async () => 'new', { stale: false })).value).toBe('new');
  });

  it('a failure is not cached: with no value it throws, with one it keeps the old value and says why', async () => {
    let now = 0;
    const c = new FigureCache(() => now);
    await expect(c.get('a', 10, async () => Promise.reject(new Error('influx down')))).rejects.toThrow('influx down');
    expect((await c.get('a', 10, async () => 'ok')).value).toBe('ok');
    now = 20;
    const r = await c.get('a', 10, async () => Promise.reject(new Error('influx down')), { stale: false });
    expect(r).toMatchObject({ value: 'ok', error: 'influx down' });
  });
});
