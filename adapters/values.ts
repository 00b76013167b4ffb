/** Value helpers several protocols share. */

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
