/**
 * Test support for the Modbus tests: an in-memory Sink that collects readings (the real store E2E
 * is the lead's), a context factory, and a logger whose lines the tests can inspect.
 */
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';
import type { AdapterContext, DeadLetter, Reading, Sink } from '../../adapters/types.js';
import { systemClock } from '../../config/clock.js';
import { deviceSchema, type ModbusDevice } from '../../adapters/modbus/schema.js';

export class MemorySink implements Sink {
  readonly readings: Reading[] = [];
  readonly batches: Reading[][] = [];
  readonly dead: DeadLetter[] = [];
  write(readings: readonly Reading[]): Promise<void> {
    this.batches.push([...readings]);
    this.readings.push(...readings);
    return Promise.resolve();
  }
  deadLetter(entry: DeadLetter): void {
    this.dead.push(entry);
  }
  of(device: string, tag?: string): Reading[] {
    return this.readings.filter((r) => r.device === device && (tag === undefined || r.tag === tag));
  }
  latest(device: string, tag: string): Reading | undefined {
    const all = this.of(device, tag);
    return all[all.length - 1];
  }
  /** good readings of a tag so far (one per successful poll of that tag) */
  good(device: string, tag: string): number {
    return this.of(device, tag).filter((r) => r.quality === 'good').length;
  }
  clear(): void {
    this.readings.length = 0;
    this.batches.length = 0;
  }
}

export interface LogCapture {
  log: Logger;
  lines: Array<Record<string, unknown>>;
}

export function captureLog(level = 'debug'): LogCapture {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level }, stream), lines };
}

const quiet = pino({ level: process.env.FGW_TEST_LOG ?? 'silent' });

export function makeCtx(sink: Sink, shared = new Map<string, unknown>(), log: Logger = quiet): AdapterContext {
  return { sink, log, clock: systemClock, dataDir: '/tmp', gateway: { id: 'test' }, shared };
}

export function modbusDevice(input: Record<string, unknown>): ModbusDevice {
  return deviceSchema.parse({ protocol: 'modbus', interval: '100ms', ...input });
}
