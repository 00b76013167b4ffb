/** A pino logger that keeps its lines as objects, for tests that count or read log lines. */
import { Writable } from 'node:stream';
import pino from 'pino';

export interface LogCapture {
  log: pino.Logger;
  /** every line written, parsed */
  lines: Array<Record<string, unknown>>;
  /** everything written, as text: for asserting a secret never appears anywhere */
  text: () => string;
}

/** At level debug unless `options` say otherwise. */
export function captureLog(options: pino.LoggerOptions = {}): LogCapture {
  const lines: Array<Record<string, unknown>> = [];
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug', ...options }, stream), lines, text: () => chunks.join('') };
}
