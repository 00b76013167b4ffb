import { describe, expect, it } from 'vitest';
import { classify, InfluxWriter, parseRetryAfter, type WriteResult } from '../../ingest/influx-writer.js';
import { redactUrl } from '../../config/redact.js';
import { influxSchema } from '../../ingest/schema.js';
import { startMockInflux } from '../helpers/mock-influx.js';

const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);

describe('classify: the writer sorts answers, the forwarder decides', () => {
  it.each<[number, string, string | null, WriteResult]>([
    [204, '', null, { kind: 'ok', status: 204 }],
    [200, '{}', null, { kind: 'ok', status: 200 }],
    [
      400,
      '{"error":"partial write: field type conflict: input field \\"x\\" dropped=1"}',
      null,
      { kind: 'partial', message: 'partial write: field type conflict: input field "x" dropped=1' },
    ],
    [400, 'unable to parse', null, { kind: 'partial', message: 'unable to parse' }],
    [413, '{"error":"Request Entity Too Large"}', null, { kind: 'too-large', message: 'Request Entity Too Large' }],
    [401, '{"error":"authorization failed"}', null, { kind: 'auth', status: 401, message: 'authorization failed' }],
    [403, '{"message":"insufficient permissions"}', null, { kind: 'auth', status: 403, message: 'insufficient permissions' }],
    [404, '{"error":"database not found: \\"factory\\""}', null, { kind: 'db-missing', message: 'database not found: "factory"' }],
    [404, '{"code":"not found","message":"bucket \\"factory\\" not found"}', null, { kind: 'db-missing', message: 'bucket "factory" not found' }],
    [404, '404 page not found', null, { kind: 'retry', status: 404, reason: 'HTTP 404: 404 page not found' }],
    [429, '', '7', { kind: 'retry', status: 429, reason: 'HTTP 429', retryAfterMs: 7000 }],
    [503, '', 'Mon, 05 Jan 2026 12:00:30 GMT', { kind: 'retry', status: 503, reason: 'HTTP 503', retryAfterMs: 30_000 }],
    [500, '{"error":"engine: error syncing wal"}', null, { kind: 'retry', status: 500, reason: 'HTTP 500: engine: error syncing wal' }],
    [429, '', 'soon', { kind: 'retry', status: 429, reason: 'HTTP 429' }],
  ])('%i %s (Retry-After %s)', (status, body, retryAfter, expected) => {
    expect(classify(status, body, retryAfter, NOW)).toEqual(expected);
  });

  it.each<[string | null, number | undefined]>([
    ['0', 0],
    ['1.5', 1500],
    ['120', 120_000],
    ['Mon, 05 Jan 2026 11:59:00 GMT', 0],
    ['', undefined],
    [null, undefined],
    ['-3', undefined],
  ])('Retry-After %j → %j ms', (h, ms) => expect(parseRetryAfter(h, NOW)).toBe(ms));
});

describe('InfluxWriter over HTTP', () => {
  it.each<[string, string, string | undefined]>([
    ['gw', 'secret', `Basic ${Buffer.from('gw:secret').toString('base64')}`],
    ['', 'my-token', 'Token my-token'],
    ['', '', undefined],
  ])('user %j password %j → authorization %j; db and precision in the query', async (username, password, header) => {
    const mock = await startMockInflux();
    try {
      const w = new InfluxWriter(influxSchema.parse({ url: `${mock.url}/`, database: 'fac tory', username, password }));
      expect(await w.write('m f=1 1', { precision: 'u' })).toEqual({ kind: 'ok', status: 204 });
      expect(mock.requests[0]!.headers.authorization).toBe(header);
      expect(mock.requests[0]!.url).toBe('/write?db=fac%20tory&precision=u');
      expect(mock.requests[0]!.lines).toEqual(['m f=1 1']);
    } finally {
      await mock.close();
    }
  });

  it('credentials written in the URL are sent as basic auth and never appear in the URL or logs', async () => {
    const mock = await startMockInflux();
    try {
      const url = mock.url.replace('http://', 'http://gw:p%40ss@');
      expect(redactUrl(url)).toBe(mock.url);
      const w = new InfluxWriter(influxSchema.parse({ url, database: 'db' }));
      expect(await w.write('m f=1 1')).toEqual({ kind: 'ok', status: 204 });
      expect(mock.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('gw:p@ss').toString('base64')}`);
    } finally {
      await mock.close();
    }
  });

  it('a refused connection and a timeout are "retry", never a throw', async () => {
    const mock = await startMockInflux();
    const url = mock.url;
    await mock.close();
    const down = new InfluxWriter(influxSchema.parse({ url, database: 'x' }));
    expect(await down.write('m f=1 1')).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/^network: /) });
    // a server that accepts the connection but never answers
    const { createServer } = await import('node:net');
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const slow = new InfluxWriter(influxSchema.parse({ url: `http://127.0.0.1:${port}`, database: 'x', timeout: '200ms' }));
      expect(await slow.write('m f=1 1')).toEqual({ kind: 'retry', reason: 'timeout after 200 ms' });
    } finally {
      silent.close();
    }
  });
});
