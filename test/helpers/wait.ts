/**
 * Await a condition instead of sleeping and hoping. Polls `check` until it returns a truthy value
 * (which is returned) or the deadline passes, then throws with `what` and the last value seen.
 */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, opts: { timeoutMs?: number; everyMs?: number } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let last: unknown;
  for (;;) {
    try {
      last = await check();
      if (last) return last as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 50));
  }
}
