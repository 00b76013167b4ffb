/**
 * What the tests' Sparkplug B host applications share: the codec (`sparkplug-payload`, decoding as a
 * host does), a decoded metric, and plain numbers from the Long objects the codec gives for 64-bit
 * (and unsigned 32-bit) integers.
 */
import { get as sparkplugCodec } from 'sparkplug-payload';

export const codec = sparkplugCodec('spBv1.0')!;

export interface Metric {
  name?: string | null;
  alias?: unknown;
  type?: string;
  value?: unknown;
  timestamp?: unknown;
  isNull?: boolean | null;
  isHistorical?: boolean | null;
}

/** a number, or a Long's value as a number */
export const num = (v: unknown): number =>
  typeof v === 'number' ? v : v && typeof v === 'object' && 'low' in v ? Number((v as { toString(): string }).toString()) : NaN;

/** a metric's value as a JS value (Longs as numbers) */
export const value = (m: Metric): unknown => (m.value && typeof m.value === 'object' && 'low' in m.value ? num(m.value) : m.value);
