/** Value helpers several protocols share. */
import { ErrorCodes, GatewayError } from '../config/errors.js';
import type { Value } from './types.js';

/**
 * The shortest decimal that reads back as the same float32 (as Java and Go print floats): a device
 * sending 812.3 as a float32 reads 812.3, not its float64 widening 812.2999877929688. The value
 * still maps to exactly the float32 on the wire.
 */
export function shortestFloat32(f: number): number {
  if (!Number.isFinite(f) || f === 0) return f;
  for (let p = 6; p < 9; p++) {
    const d = Number(f.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return Number(f.toPrecision(9));
}

/** error code of a reading whose number is NaN or ±Infinity: stored bad, never as a good value */
export const NOT_FINITE = 'NOT_FINITE';

const NUMERIC_TEXT = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/**
 * The value an API write may send to a tag, whatever the protocol. A number must be finite. A tag
 * with `min` or `max` takes numbers only, and numeric text counts as its number ("99999" is as far
 * out of range as 99999, "1e999" is not a finite number); the number is what gets written. Without
 * min/max, text stays text (a string tag's "0042" stays "0042") and the adapter converts it to the
 * tag's type. Throws GW_ERR_WRITE_TYPE or GW_ERR_WRITE_RANGE naming the tag.
 */
export function checkWriteValue(tag: { min?: number | undefined; max?: number | undefined }, value: Value, where: string): Value {
  const ranged = tag.min !== undefined || tag.max !== undefined;
  let n: number | undefined;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && NUMERIC_TEXT.test(value)) n = Number(value);
  else if (typeof value === 'string' && !ranged) return value;
  else if (typeof value === 'boolean' && !ranged) return value;
  else throw new GatewayError(ErrorCodes.WRITE_TYPE, `${where} has a range (min/max): expected a number, got ${JSON.stringify(value)}`);
  if (!Number.isFinite(n)) throw new GatewayError(ErrorCodes.WRITE_TYPE, `${where}: ${JSON.stringify(value)} is not a finite number`);
  if (tag.min !== undefined && n < tag.min)
    throw new GatewayError(ErrorCodes.WRITE_RANGE, `${JSON.stringify(value)} is below the minimum ${tag.min} of ${where}`);
  if (tag.max !== undefined && n > tag.max)
    throw new GatewayError(ErrorCodes.WRITE_RANGE, `${JSON.stringify(value)} is above the maximum ${tag.max} of ${where}`);
  return typeof value === 'number' || ranged ? n : value;
}
