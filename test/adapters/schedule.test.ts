/**
 * The poll schedule (adapters/schedule.ts) driven by a ManualClock: ticks stay on the grid anchored
 * to the start whatever a poll costs; a poll that overruns skips the ticks that came while it ran;
 * a timer that fires late (a busy event loop) makes the poll late, or skips a tick when a newer one
 * was already due. Expected start times and counts are worked out by hand from the scripts below.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../helpers/manual-clock.js';
import { PollSchedule } from '../../adapters/schedule.js';

const T = Date.UTC(2026, 0, 1);

/**
 * A poller like the adapters' loops: sleeps until the next tick (plus a scripted extra delay, the
 * event loop being busy), polls for a scripted duration. Returns the start times, relative to T.
 */
function runPoller(clock: ManualClock, sched: PollSchedule, pollMs: (i: number) => number, timerDelay: (i: number) => number = () => 0) {
  const starts: number[] = [];
  let stopped = false;
  const done = (async () => {
    for (let i = 0; !stopped; i++) {
      const wait = sched.next() - clock.now() + timerDelay(i);
      if (wait > 0) await clock.sleep(wait);
      if (stopped) break;
      starts.push(clock.now() - T);
      sched.started(clock.now());
      await clock.sleep(pollMs(i));
      sched.finished(clock.now());
    }
  })();
  return {
    starts,
    stop: async () => {
      stopped = true;
      await clock.advance(10_000);
      await done;
    },
  };
}

describe('poll schedule', () => {
  it('keeps polls on the grid anchored to the start, however long each poll takes', async () => {
    const clock = new ManualClock(T);
    const sched = new PollSchedule(100, T);
    const p = runPoller(clock, sched, () => 30);
    await clock.advance(1_000);
    // a setTimeout(100) chain after each 30 ms poll would start at 0, 130, 260, ...
    expect(p.starts).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(sched.late).toBe(0);
    expect(sched.skipped).toBe(0);
    await p.stop();
  });

  it('counts the ticks that came while a poll overran as skipped, and goes on at the next tick of the grid', async () => {
    const clock = new ManualClock(T);
    const sched = new PollSchedule(100, T);
    // the third poll (started at 200) takes 250 ms: it ends at 450, the ticks at 300 and 400 came meanwhile
    const p = runPoller(clock, sched, (i) => (i === 2 ? 250 : 10));
    await clock.advance(800);
    expect(p.starts).toEqual([0, 100, 200, 500, 600, 700, 800]);
    expect(sched.skipped).toBe(2);
    expect(sched.late).toBe(0);
    await p.stop();
  });

  it('counts a poll whose timer fired more than half an interval late as late, and one a whole tick late as a skip', async () => {
    const clock = new ManualClock(T);
    const sched = new PollSchedule(100, T);
    // poll 1 (tick 100) starts 40 ms late: on time (40 ≤ 50); poll 2 (tick 200) starts 60 ms late: late;
    // poll 3 waits for tick 300 and starts at 430: tick 300 is skipped, the poll serves tick 400, 30 ms after it: on time
    const extra = [0, 40, 60, 130];
    const p = runPoller(
      clock,
      sched,
      () => 10,
      (i) => extra[i] ?? 0,
    );
    await clock.advance(700);
    expect(p.starts).toEqual([0, 140, 260, 430, 500, 600, 700]);
    expect(sched.late).toBe(1);
    expect(sched.skipped).toBe(1);
    expect(sched.taken).toBe(7);
    await p.stop();
  });

  it('takes half the interval as the late threshold unless told, and refuses a non-positive interval', () => {
    expect(new PollSchedule(1_000, T).lateAfter).toBe(500);
    expect(new PollSchedule(1_000, T, 100).lateAfter).toBe(100);
    expect(() => new PollSchedule(0, T)).toThrow(/interval must be > 0/);
  });

  it('starts a new grid on restart (a demoted device), without counting the ticks in between', () => {
    const sched = new PollSchedule(100, T);
    sched.started(T);
    sched.finished(T + 10);
    sched.restart(T + 5_000);
    expect(sched.next()).toBe(T + 5_000);
    sched.started(T + 5_000);
    expect(sched.skipped).toBe(0);
    expect(sched.late).toBe(0);
  });
});
