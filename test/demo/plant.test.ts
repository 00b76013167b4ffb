import { describe, expect, it } from 'vitest';
import { newMachine, seeded, step, type Machine, type MachineSpec } from '../../gateway/demo/plant.js';

const steady: MachineSpec = {
  rate: 30,
  params: { tonnage: { nominal: 800, noise: 0, idle: 0 } },
  meanDwell: { running: 1e9, idle: 1e9, fault: 1e9, off: 1e9 },
  faultChance: 0,
};

describe('demo machine model', () => {
  it('a machine that stays running makes parts at its rate (30/min → 15 in 30 s, in 1 s steps)', () => {
    const rand = seeded(1);
    let m = newMachine(steady, rand);
    for (let i = 0; i < 30; i++) m = step(steady, m, 1, rand);
    expect(m.state).toBe('running');
    expect(m.count).toBe(15);
    expect(m.params.tonnage).toBe(800);
  });

  it('a stopped machine makes nothing and reports its idle parameter value', () => {
    const rand = seeded(2);
    let m: Machine = { ...newMachine(steady, rand), state: 'off', dwell: 1e9 };
    for (let i = 0; i < 30; i++) m = step(steady, m, 1, rand);
    expect(m.count).toBe(0);
    expect(m.params.tonnage).toBe(0);
  });

  it('over an hour of churn the counter never goes backwards and every state is visited', () => {
    const spec: MachineSpec = {
      ...steady,
      params: { t: { nominal: 50, noise: 2 } },
      meanDwell: { running: 60, idle: 20, fault: 30, off: 40 },
      faultChance: 0.3,
    };
    const rand = seeded(42);
    let m = newMachine(spec, rand);
    const seen = new Set<string>();
    let last = 0;
    for (let i = 0; i < 3600; i++) {
      m = step(spec, m, 1, rand);
      seen.add(m.state);
      expect(m.count).toBeGreaterThanOrEqual(last);
      last = m.count;
    }
    expect([...seen].sort()).toEqual(['fault', 'idle', 'off', 'running']);
    expect(last).toBeGreaterThan(0);
  });
});
