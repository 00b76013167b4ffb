/** A pino logger that keeps its lines as objects, for tests that count or read log lines. */
import { Writable } from 'node:stream';
import pino from 'pino';

export function captureLog(options: pino.LoggerOptions = {}): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug', ...options }, stream), lines };
}
