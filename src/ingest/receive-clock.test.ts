import { describe, expect, it } from 'vitest';
import { ReceiveClock } from './receive-clock.js';

describe('ReceiveClock', () => {
  it('uses the receive time when the device has nothing newer', () => {
    const c = new ReceiveClock();
    expect(c.reserve('a', 1000, 1)).toBe(1000);
    expect(c.reserve('a', 2000, 1)).toBe(2000);
  });

  it('gives readings of one device in the same ms distinct, increasing ms', () => {
    const c = new ReceiveClock();
    expect(c.reserve('a', 1000, 3)).toBe(1000); // 1000, 1001, 1002
    expect(c.reserve('a', 1000, 1)).toBe(1003);
    expect(c.reserve('a', 1001, 2)).toBe(1004);
    expect(c.reserve('a', 1010, 1)).toBe(1010);
  });

  it('keeps devices apart: another device may use the same ms', () => {
    const c = new ReceiveClock();
    c.reserve('a', 1000, 5);
    expect(c.reserve('b', 1000, 1)).toBe(1000);
  });
});
