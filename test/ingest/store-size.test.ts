/** storeBytesInUse: the layout's bytes as a reader sees them, the same before and after the WAL is checkpointed. */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { STORE_FILE, openStore, storeBytesInUse } from '../../ingest/store/index.js';
import { tempDir } from '../helpers/tmp.js';

let dir: ReturnType<typeof tempDir>;
afterEach(() => dir.cleanup());

describe('storeBytesInUse', () => {
  it('counts the pages still in the WAL, and is the file size once they are checkpointed (a fresh store has no free pages)', async () => {
    dir = tempDir('fgw-size-');
    const store = openStore({ path: dir.path, maxSizeBytes: 1e9, retentionMs: 86_400_000, limitsIntervalMs: 0 });
    const empty = storeBytesInUse(dir.path);
    const rows: Reading[] = [];
    for (let i = 0; i < 20_000; i++)
      rows.push({ device: 'press', tag: `t${i % 10}`, ts: 1_800_000_000_000 + Math.floor(i / 10), kind: 'float', value: i / 7, quality: 'good' });
    await store.write(rows);
    const open = storeBytesInUse(dir.path);
    const dbFile = join(dir.path, STORE_FILE);
    expect(open).toBeGreaterThan(empty + 20_000 * 8); // at least 8 bytes a reading: its float64 value (i / 7 is no integer)
    expect(statSync(`${dbFile}-wal`).size, 'the readings are still in the WAL').toBeGreaterThan(0);
    await store.close();
    expect(storeBytesInUse(dir.path)).toBe(open);
    expect(statSync(dbFile).size).toBe(open);
  });
});
