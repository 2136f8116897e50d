/**
 * Token buckets: the one rate-limiting primitive behind every limit citypipe enforces (MQTT messages
 * per connection, MQTT connections per address, HTTP requests per address).
 *
 * A bucket holds up to `burst` tokens and gains `ratePerS` tokens a second; each event takes one.
 * Refill is computed lazily from the clock when a token is asked for, so an idle bucket costs
 * nothing and there is no timer per bucket.
 */

/** Seconds of sustained rate a bucket can absorb at once: `burst = BURST_SECONDS × ratePerS`. */
export const BURST_SECONDS = 10;

/** A single bucket. `now` is injectable for tests (milliseconds, monotonic). */
export class TokenBucket {
  private readonly ratePerMs: number;
  private readonly burst: number;
  private tokens: number;
  private last: number;

  constructor(ratePerS: number, burst = ratePerS * BURST_SECONDS, now = performance.now()) {
    this.ratePerMs = ratePerS / 1000;
    this.burst = Math.max(1, burst);
    this.tokens = this.burst;
    this.last = now;
  }

  /** Takes one token if there is one. */
  take(now = performance.now()): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Takes `n` tokens whether or not there are that many: the bucket may go into debt, which later
   * events wait out. For costs known only after the event was let through (the readings in a PUBLISH).
   */
  charge(n: number, now = performance.now()): void {
    this.refill(now);
    this.tokens -= n;
  }

  /** True when a token is available (nothing owed); takes none. */
  ready(now = performance.now()): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  /** Milliseconds until a token will be available (0 when one is). */
  waitMs(now = performance.now()): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.ratePerMs);
  }

  /** True when the bucket is full again, i.e. forgetting it changes nothing. */
  isFull(now = performance.now()): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }

  private refill(now: number): void {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + elapsed * this.ratePerMs);
      this.last = now;
    }
  }
}

/**
 * One bucket per key (a client address), created on first use and forgotten once full again, so
 * the map holds only keys that were active within the last burst period. `sweep()` is called by
 * the owner on a timer.
 */
export class KeyedTokenBuckets {
  private readonly ratePerS: number;
  private readonly buckets = new Map<string, TokenBucket>();

  /** `ratePerS` 0 disables the limit: every `take` succeeds. */
  constructor(ratePerS: number) {
    this.ratePerS = ratePerS;
  }

  get enabled(): boolean {
    return this.ratePerS > 0;
  }

  /** Number of keys currently tracked. */
  get size(): number {
    return this.buckets.size;
  }

  take(key: string, now = performance.now()): boolean {
    if (this.ratePerS <= 0) return true;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.ratePerS, undefined, now);
      this.buckets.set(key, bucket);
    }
    return bucket.take(now);
  }

  /** Milliseconds until `key` may take a token again. */
  waitMs(key: string, now = performance.now()): number {
    return this.buckets.get(key)?.waitMs(now) ?? 0;
  }

  /** Forgets the buckets that are full again. */
  sweep(now = performance.now()): void {
    for (const [key, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(key);
  }
}

/**
 * The key a client address is limited by. IPv6 addresses are grouped by their /64 prefix: one host
 * usually owns a whole /64, and per-address buckets would let it rotate through 2^64 of them.
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (!address.includes(':')) return address;
  const groups = expandIpv6(address);
  return groups === undefined ? address : `${groups.slice(0, 4).join(':')}::/64`;
}

function expandIpv6(address: string): string[] | undefined {
  const zone = address.indexOf('%');
  const bare = zone >= 0 ? address.slice(0, zone) : address;
  const halves = bare.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  return [...head, ...Array.from({ length: missing }, () => '0'), ...tail].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
}
