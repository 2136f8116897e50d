import { describe, expect, it } from 'vitest';
import { addressKey, BURST_SECONDS, KeyedTokenBuckets, TokenBucket } from './token-bucket.js';

describe('TokenBucket', () => {
  it('allows a burst of 10 s of the rate, then the rate', () => {
    const b = new TokenBucket(5, undefined, 0);
    let taken = 0;
    while (b.take(0)) taken++;
    expect(taken).toBe(5 * BURST_SECONDS);
    expect(b.waitMs(0)).toBe(200);
    expect(b.take(199)).toBe(false);
    expect(b.take(200)).toBe(true);
    expect(b.take(200)).toBe(false);
    // A second later, five more.
    let later = 0;
    while (b.take(1200)) later++;
    expect(later).toBe(5);
  });

  it('never holds more than its burst, however long it idles', () => {
    const b = new TokenBucket(1, 3, 0);
    let taken = 0;
    while (b.take(1e9)) taken++;
    expect(taken).toBe(3);
    expect(b.isFull(1e9)).toBe(false);
    expect(b.isFull(1e9 + 3000)).toBe(true);
  });

  it('charges costs known only afterwards into debt, which later events wait out', () => {
    const b = new TokenBucket(1000, 1000, 0);
    expect(b.ready(0)).toBe(true);
    b.charge(3000, 0);
    expect(b.ready(0)).toBe(false);
    // 2,001 tokens owed at 1 per ms.
    expect(b.waitMs(0)).toBe(2001);
    expect(b.ready(2000)).toBe(false);
    expect(b.ready(2001)).toBe(true);
  });
});

describe('KeyedTokenBuckets', () => {
  it('limits each key on its own and forgets keys whose bucket is full again', () => {
    const k = new KeyedTokenBuckets(1);
    for (let i = 0; i < 10; i++) expect(k.take('a', 0)).toBe(true);
    expect(k.take('a', 0)).toBe(false);
    expect(k.take('b', 0)).toBe(true);
    expect(k.size).toBe(2);
    // b is full again after 1 s, a (emptied) only after 10 s.
    k.sweep(5000);
    expect(k.size).toBe(1);
    k.sweep(20_000);
    expect(k.size).toBe(0);
  });

  it('lets everything through at rate 0 and keeps no state', () => {
    const k = new KeyedTokenBuckets(0);
    for (let i = 0; i < 1000; i++) expect(k.take('a', 0)).toBe(true);
    expect(k.size).toBe(0);
    expect(k.enabled).toBe(false);
  });
});

describe('addressKey', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002::ffff', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    [undefined, 'unknown'],
  ])('%s → %s', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });
});
