import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { interpolateEnv } from '../../config/load.js';
import { influxSchema, storageSchema } from '../../ingest/schema.js';

const sample = fileURLToPath(new URL('../../config/gateway.yaml', import.meta.url));

describe('storage and influx schemas', () => {
  it('accept the sections of config/gateway.yaml exactly as written', () => {
    const problems: string[] = [];
    // only the two top-level sections this module owns (the rest of the file is other modules' business)
    const text = readFileSync(sample, 'utf8');
    const sections = /^storage:[\s\S]*?(?=^http:)/m.exec(text)?.[0] ?? '';
    expect(sections).toMatch(/^influx:/m);
    const doc = interpolateEnv(parse(sections), {}, problems) as { storage: unknown; influx: unknown };
    expect(problems).toEqual([]);
    expect(storageSchema.parse(doc.storage)).toEqual({
      path: './data/line-01',
      maxSize: 2 * 1024 ** 3,
      retention: 14 * 86_400_000,
      commitInterval: 0,
      commitRows: 20_000,
      limitsInterval: 60_000,
      deadLetterShare: 0.05,
      auditShare: 0.05,
    });
    expect(influxSchema.parse(doc.influx)).toEqual({
      url: 'http://127.0.0.1:8086',
      database: 'factory',
      measurement: 'equipment',
      username: '',
      password: '',
      batchSize: 5000,
      flushInterval: 1000,
      createDatabase: true,
      timeout: 10_000,
      maxBackoff: 30_000,
      holdRetryInterval: 30_000,
      gzip: false,
    });
  });

  it('fills defaults', () => {
    expect(influxSchema.parse({ url: 'http://influx:8086', database: 'db' })).toMatchObject({
      measurement: 'equipment',
      batchSize: 5000,
      flushInterval: 1000,
      createDatabase: true,
    });
    expect(storageSchema.parse({})).toMatchObject({ path: './data', maxSize: 2 * 1024 ** 3, retention: 14 * 86_400_000 });
  });

  it.each<[string, unknown, unknown, string]>([
    ['storage', storageSchema, { path: './d', maxSize: '2 parsecs' }, 'maxSize'],
    ['storage', storageSchema, { path: './d', retention: 'forever' }, 'retention'],
    ['storage', storageSchema, { path: './d', extra: 1 }, 'extra'],
    ['storage', storageSchema, { path: './d', deadLetterShare: 0.9 }, 'deadLetterShare'],
    ['storage', storageSchema, { path: './d', auditShare: '5%' }, 'auditShare'],
    ['influx', influxSchema, { url: 'not a url', database: 'x' }, 'url'],
    ['influx', influxSchema, { url: 'http://x', database: 'x', batchSize: 0 }, 'batchSize'],
    ['influx', influxSchema, { url: 'http://x', database: 'x', flushInterval: 'soon' }, 'flushInterval'],
    ['influx', influxSchema, { url: 'http://x', database: 'x', token: 'y' }, 'token'],
    ['influx', influxSchema, { url: 'http://x' }, 'database'],
  ])('%s rejects %j naming %s', (_s, schema, input, path) => {
    const r = (schema as typeof influxSchema).safeParse(input);
    expect(r.success).toBe(false);
    const paths = r.error!.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys : [i.path.join('.')]));
    expect(paths).toContain(path);
  });

  it('describes every field', () => {
    for (const schema of [storageSchema, influxSchema]) {
      for (const [key, field] of Object.entries(schema.shape)) expect(field.description, key).toBeTruthy();
    }
  });
});
