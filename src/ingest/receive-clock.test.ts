import { describe, expect, it } from 'vitest';
import { ReceiveClock, RECEIVE_STAMP_WINDOW_MS } from './receive-clock.js';

describe('ReceiveClock', () => {
  it('uses the receive time when the device has nothing newer', () => {
    const c = new ReceiveClock();
    expect(c.reserve('a', 1000, 1)).toEqual({ first: 1000, granted: 1 });
    expect(c.reserve('a', 2000, 1)).toEqual({ first: 2000, granted: 1 });
  });

  it('gives readings of one device in the same ms distinct, increasing ms', () => {
    const c = new ReceiveClock();
    expect(c.reserve('a', 1000, 3).first).toBe(1000); // 1000, 1001, 1002
    expect(c.reserve('a', 1000, 1).first).toBe(1003);
    expect(c.reserve('a', 1001, 2).first).toBe(1004);
    expect(c.reserve('a', 1010, 1).first).toBe(1010);
  });

  it('keeps devices apart: another device may use the same ms', () => {
    const c = new ReceiveClock();
    c.reserve('a', 1000, 5);
    expect(c.reserve('b', 1000, 1).first).toBe(1000);
  });

  it('never stamps a reading a second or more after it was received: the rest is not granted', () => {
    const c = new ReceiveClock();
    // 30 batches of 1,000 within a few ms: only the first second's worth gets stamps.
    let granted = 0;
    let last = 0;
    for (let i = 0; i < 30; i++) {
      const receivedAt = 5000 + i;
      const r = c.reserve('a', receivedAt, 1000);
      granted += r.granted;
      if (r.granted > 0) {
        last = r.first + r.granted - 1;
        expect(last).toBeLessThan(receivedAt + RECEIVE_STAMP_WINDOW_MS);
      }
    }
    expect(granted).toBe(1000 + 29);
    expect(last).toBe(5000 + 29 + RECEIVE_STAMP_WINDOW_MS - 1);
    // A second later the device has a full window again.
    expect(c.reserve('a', 7000, 1000)).toEqual({ first: 7000, granted: 1000 });
  });
});
