/**
 * Test support for the Modbus tests: a context factory and a device parser (the Sink double is
 * test/helpers/sink.ts, the log capture test/helpers/log.ts).
 */
import { pino, type Logger } from 'pino';
import type { AdapterContext, Sink } from '../../adapters/types.js';
import { systemClock } from '../../config/clock.js';
import { deviceSchema, type ModbusDevice } from '../../adapters/modbus/schema.js';

const quiet = pino({ level: process.env.FGW_TEST_LOG ?? 'silent' });

export function makeCtx(sink: Sink, shared = new Map<string, unknown>(), log: Logger = quiet): AdapterContext {
  return { sink, log, clock: systemClock, dataDir: '/tmp', gateway: { id: 'test' }, shared };
}

export function modbusDevice(input: Record<string, unknown>): ModbusDevice {
  return deviceSchema.parse({ protocol: 'modbus', interval: '100ms', ...input });
}
