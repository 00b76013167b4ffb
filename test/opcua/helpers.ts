/**
 * Shared bits of the OPC UA tests: an AdapterContext whose logger names the device (the Sink double
 * is test/helpers/sink.ts, the log capture test/helpers/log.ts).
 */
import type { Logger } from 'pino';
import { systemClock } from '../../config/clock.js';
import type { AdapterContext, Sink } from '../../adapters/types.js';

export function makeCtx(device: string, dataDir: string, sink: Sink, log: Logger): AdapterContext {
  return { sink, log: log.child({ device }), clock: systemClock, dataDir, gateway: { id: 'test-gw' }, shared: new Map() };
}
