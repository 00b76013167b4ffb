/**
 * The demo plant's machines: each a small state machine (running / idle / fault / off) with a
 * counter that advances while running and parameters with noise. Pure: `step` takes the state,
 * the elapsed time and a random source, and returns the next state, so it is tested without time.
 */

export type MachineState = 'off' | 'idle' | 'running' | 'fault';

/** Numeric codes as a PLC would expose them in a holding register. */
export const STATE_CODES: Record<MachineState, number> = { off: 0, idle: 1, running: 2, fault: 3 };

export interface MachineSpec {
  /** parts per minute while running */
  rate: number;
  /** parameter nominal values and noise (standard deviation), e.g. tonnage 800 ± 5 */
  params: Record<string, { nominal: number; noise: number; idle?: number }>;
  /** mean seconds in each state before leaving it */
  meanDwell: Record<MachineState, number>;
  /** probability of going to fault when leaving running */
  faultChance: number;
}

export interface Machine {
  state: MachineState;
  /** seconds left in this state */
  dwell: number;
  /** parts made, never decreasing */
  count: number;
  /** fractional part not yet counted */
  partial: number;
  params: Record<string, number>;
}

export type Random = () => number;

/** A seeded generator (mulberry32) so a demo run and a test are repeatable. */
export function seeded(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(rand: Random): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

function dwellFor(spec: MachineSpec, s: MachineState, rand: Random): number {
  return -Math.log(Math.max(rand(), 1e-12)) * spec.meanDwell[s];
}

export function newMachine(spec: MachineSpec, rand: Random): Machine {
  const params: Record<string, number> = {};
  for (const [k, p] of Object.entries(spec.params)) params[k] = p.idle ?? p.nominal;
  return { state: 'running', dwell: dwellFor(spec, 'running', rand), count: 0, partial: 0, params };
}

function nextState(spec: MachineSpec, from: MachineState, rand: Random): MachineState {
  switch (from) {
    case 'running':
      return rand() < spec.faultChance ? 'fault' : 'idle';
    case 'idle':
      return rand() < 0.1 ? 'off' : 'running';
    case 'fault':
      return 'idle';
    case 'off':
      return 'idle';
  }
}

/** Advances a machine by `dtSeconds`. */
export function step(spec: MachineSpec, m: Machine, dtSeconds: number, rand: Random): Machine {
  let { state, dwell, count, partial } = m;
  let left = dtSeconds;
  while (left > 0) {
    const dt = Math.min(left, dwell);
    if (state === 'running') {
      partial += (spec.rate / 60) * dt;
      const whole = Math.floor(partial);
      count += whole;
      partial -= whole;
    }
    dwell -= dt;
    left -= dt;
    if (dwell <= 0) {
      state = nextState(spec, state, rand);
      dwell = dwellFor(spec, state, rand);
    }
  }
  const params: Record<string, number> = {};
  for (const [k, p] of Object.entries(spec.params)) {
    const base = state === 'running' ? p.nominal : (p.idle ?? 0);
    params[k] = state === 'running' ? base + gauss(rand) * p.noise : base;
  }
  return { state, dwell, count, partial, params };
}
