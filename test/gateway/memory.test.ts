/**
 * gateway/memory.ts: `fgw run` frees the config parser's garbage after start-up with one full
 * collection, in a process started without --expose-gc (as vitest's workers are).
 */
import { expect, it } from 'vitest';
import { collectGarbage } from '../../gateway/memory.js';

it('runs a full collection on demand without --expose-gc, freeing unreachable objects', () => {
  let junk: Array<{ i: number; s: string }> | null = Array.from({ length: 1_000_000 }, (_, i) => ({ i, s: `tag-${i}` }));
  const withJunk = process.memoryUsage().heapUsed;
  expect(junk.length).toBe(1_000_000);
  junk = null;
  expect(collectGarbage()).toBe(true);
  // a million small objects and strings are well over 40 MB of heap
  expect(process.memoryUsage().heapUsed).toBeLessThan(withJunk - 40 * 1024 * 1024);
});
