/**
 * MOCK InfluxDB: a small HTTP server that answers /write with scripted statuses (413, 400 partial,
 * 429 with Retry-After, 401, 500), the only answers a real influxd cannot be made to give on
 * demand. Everything else is tested against the real influxd (test/helpers/influx.ts).
 *
 * `respond` decides per request; what it returns is sent as is. Each request is recorded with its
 * arrival time (Date.now()) and the lines of its body.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MockRequest {
  at: number;
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  lines: string[];
}

export interface MockAnswer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** answer this much later (a slow InfluxDB: a request stays in flight) */
  delayMs?: number;
}

export interface MockInflux {
  url: string;
  requests: MockRequest[];
  /** what the next requests get; replaces the previous rule */
  respond(rule: (req: MockRequest, index: number) => MockAnswer): void;
  /** lines of the requests answered 2xx, in order */
  accepted(): string[];
  close(): Promise<void>;
}

export async function startMockInflux(rule: (req: MockRequest, index: number) => MockAnswer = () => ({ status: 204 })): Promise<MockInflux> {
  let current = rule;
  const requests: MockRequest[] = [];
  const accepted: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const r: MockRequest = { at: Date.now(), method: req.method ?? '', url: req.url ?? '', headers: req.headers, lines: text === '' ? [] : text.split('\n') };
      const index = requests.push(r) - 1;
      const a: MockAnswer = req.url?.startsWith('/write') ? current(r, index) : { status: 204 };
      const answer = () => {
        if (a.status >= 200 && a.status < 300) accepted.push(...r.lines);
        res.writeHead(a.status, { 'content-type': 'application/json', ...(a.headers ?? {}) });
        res.end(a.body ?? '');
      };
      if (a.delayMs) setTimeout(answer, a.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    respond(r) {
      current = r;
    },
    accepted: () => [...accepted],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
