import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReplayPacer } from './replay-pacer.js';

/** A clock that only moves when a step says it took time, or the test moves it. */
function fakeClock(): { now: () => number; spend(ms: number): void } {
  let t = 1000;
  return { now: () => t, spend: (ms) => (t += ms) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ReplayPacer', () => {
  it('runs queued steps in later turns, each turn until its budget is spent, at least one step per turn', async () => {
    vi.useFakeTimers({ toFake: ['setImmediate', 'setTimeout'] });
    const clock = fakeClock();
    const pacer = new ReplayPacer({ turnMs: 4, share: 1, windowMs: 100, now: clock.now });
    const turnOf: number[] = [];
    let turn = 0;
    const step = (costMs: number) => () => {
      clock.spend(costMs);
      turnOf.push(turn);
      return costMs;
    };
    // Steps of 3, 3, 1, 10 and 1 ms against a 4 ms turn: [3, 3] | [1, 10] | [1].
    const results = Promise.all([3, 3, 1, 10, 1].map((ms) => pacer.run(step(ms))));
    // Nothing runs in the caller's own turn.
    expect(turnOf).toEqual([]);
    for (let i = 0; i < 5 && pacer.waiting > 0; i++) {
      turn++;
      vi.runOnlyPendingTimers();
    }
    expect(await results).toEqual([3, 3, 1, 10, 1]);
    expect(turnOf).toEqual([1, 1, 2, 2, 3]);
  });

  it('leaves the rest of a window alone once replays have used their share of it', async () => {
    vi.useFakeTimers({ toFake: ['setImmediate', 'setTimeout'] });
    const clock = fakeClock();
    const pacer = new ReplayPacer({ turnMs: 10, share: 0.5, windowMs: 100, now: clock.now });
    const ran: number[] = [];
    // Twelve 10 ms steps: 50 ms of a 100 ms window is the share.
    const all = Promise.all(Array.from({ length: 12 }, (_, i) => pacer.run(() => (clock.spend(10), ran.push(i)))));
    for (let i = 0; i < 5; i++) vi.runOnlyPendingTimers(); // five immediate turns of one step each
    expect(ran).toHaveLength(5);
    // The share is used: no immediate is pending, only a timer for the next window.
    expect(vi.getTimerCount()).toBe(1);
    vi.runOnlyPendingTimers();
    expect(ran).toHaveLength(5);
    // The window is over (the clock moved 50 ms in steps; the test moves it to the window's end):
    // another half window of steps, then a wait again.
    clock.spend(50);
    for (let i = 0; i < 7; i++) vi.runOnlyPendingTimers();
    expect(ran).toHaveLength(10);
    clock.spend(50);
    for (let i = 0; i < 3; i++) vi.runOnlyPendingTimers();
    await all;
    expect(ran).toHaveLength(12);
  });

  it('hands a step’s error to its caller only; the other steps still run', async () => {
    const pacer = new ReplayPacer({ turnMs: 4, share: 0.5, windowMs: 100 });
    const failing = pacer.run(() => {
      throw new Error('the log is gone');
    });
    const fine = pacer.run(() => 'page');
    await expect(failing).rejects.toThrow('the log is gone');
    await expect(fine).resolves.toBe('page');
  });
});
