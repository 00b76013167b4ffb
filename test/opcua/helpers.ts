/**
 * Shared bits of the OPC UA tests: an in-memory Sink (a test double of the durable store, which
 * is not this module's concern), a pino logger that keeps its lines, an AdapterContext.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { systemClock } from '../../config/clock.js';
import type { AdapterContext, DeadLetter, Reading, Sink } from '../../adapters/types.js';

export class MemorySink implements Sink {
  readonly readings: Reading[] = [];
  readonly dead: DeadLetter[] = [];
  async write(readings: readonly Reading[]): Promise<void> {
    this.readings.push(...readings);
  }
  deadLetter(entry: DeadLetter): void {
    this.dead.push(entry);
  }
  of(tag: string): Reading[] {
    return this.readings.filter((r) => r.tag === tag);
  }
  last(tag: string): Reading | undefined {
    const all = this.of(tag);
    return all[all.length - 1];
  }
}

export interface LogCapture {
  log: Logger;
  lines: () => Array<Record<string, unknown>>;
  text: () => string;
}

export function captureLog(device: string): LogCapture {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const log = pino({ level: 'info' }, stream).child({ device });
  return {
    log,
    lines: () => lines.flatMap((l) => l.split('\n').filter(Boolean).map((x) => JSON.parse(x) as Record<string, unknown>)),
    text: () => lines.join(''),
  };
}

export function makeCtx(device: string, dataDir: string, sink: Sink, log: Logger): AdapterContext {
  return { sink, log, clock: systemClock, dataDir, gateway: { id: 'test-gw' }, shared: new Map() };
}
