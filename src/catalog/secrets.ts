/**
 * Device secrets: generation, salted scrypt hashes, verification.
 *
 * A stored hash is `scrypt$N$r$p$salt$hash` (salt and hash base64url), so the cost parameters can be
 * raised later without invalidating the secrets already issued: each hash is verified with the
 * parameters it was made with.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * Cost parameters for new hashes.
 *
 * N = 2^10, r = 8, p = 1 (1 MiB of memory) costs about 1.7 ms per hash, measured with
 * `scryptSync` on the 2-core AMD EPYC build machine (Node 20): 2^11 took 3.3 ms, 2^12 6.9 ms,
 * 2^14 30 ms. The low end is deliberate. Device secrets are 192-bit random strings, not human
 * passwords: no dictionary applies and no work factor changes the odds of guessing one, so the hash
 * only has to be salted and one-way. What the cost does buy is a reconnect storm: after a broker or
 * network outage thousands of devices connect within seconds, and every CONNECT verifies one hash
 * (10 000 devices × 1.7 ms ≈ 17 s of CPU at 2^10; the 32 ms of a password-grade 2^14 would be over
 * five minutes).
 */
export const SCRYPT_PARAMS = Object.freeze({ N: 1024, r: 8, p: 1 });

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** 24 random bytes = 192 bits, 32 base64url characters. */
const SECRET_BYTES = 24;

/*
 * Bounds on parameters read back from a stored hash. A catalog file is user-edited data: a typo such
 * as N=2^30 must fail verification, not allocate gigabytes or stall the broker.
 */
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;
/** N·r·p bound: 2^21 is 256× the current cost, about half a second. */
const MAX_WORK = 1 << 21;
const MAX_MEM = 64 * 1024 * 1024;
const MIN_KEY = 16;
const MAX_KEY = 64;

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** A new random device secret: 192 bits, base64url (URL- and shell-safe, no padding). */
export function generateSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/** Salted scrypt hash of `secret` as `scrypt$N$r$p$salt$hash`. Blocks for one hash (see SCRYPT_PARAMS). */
export function hashSecret(secret: string): string {
  const { N, r, p } = SCRYPT_PARAMS;
  const salt = randomBytes(SALT_BYTES);
  const hash = scryptSync(secret, salt, KEY_BYTES, { N, r, p, maxmem: MAX_MEM });
  return format(N, r, p, salt, hash);
}

/** {@link hashSecret} on the libuv thread pool. */
export async function hashSecretAsync(secret: string): Promise<string> {
  const { N, r, p } = SCRYPT_PARAMS;
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(secret, salt, KEY_BYTES, N, r, p);
  return format(N, r, p, salt, hash);
}

/**
 * True when `secret` matches `stored`. Never throws: a malformed or out-of-bounds stored hash, or a
 * secret of the wrong type, is simply `false`. The comparison is constant-time.
 */
export function verifySecret(secret: string | Uint8Array, stored: string): boolean {
  const parsed = parseHash(stored);
  if (!parsed || !isSecretInput(secret)) return false;
  try {
    const derived = scryptSync(secret, parsed.salt, parsed.hash.length, {
      N: parsed.N,
      r: parsed.r,
      p: parsed.p,
      maxmem: MAX_MEM,
    });
    return timingSafeEqual(derived, parsed.hash);
  } catch {
    return false;
  }
}

/**
 * {@link verifySecret} on the libuv thread pool, so that a reconnect storm verifying many hashes does
 * not stall the event loop that also carries telemetry. Never rejects.
 */
export async function verifySecretAsync(secret: string | Uint8Array, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed || !isSecretInput(secret)) return false;
  try {
    const derived = await scryptAsync(secret, parsed.salt, parsed.hash.length, parsed.N, parsed.r, parsed.p);
    return timingSafeEqual(derived, parsed.hash);
  } catch {
    return false;
  }
}

/** True when `stored` is a hash {@link verifySecret} can check (format and cost bounds). */
export function isSecretHash(stored: unknown): boolean {
  return parseHash(stored) !== undefined;
}

function isSecretInput(secret: unknown): secret is string | Uint8Array {
  return typeof secret === 'string' || secret instanceof Uint8Array;
}

function format(N: number, r: number, p: number, salt: Buffer, hash: Buffer): string {
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

function scryptAsync(secret: string | Uint8Array, salt: Buffer, keylen: number, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keylen, { N, r, p, maxmem: MAX_MEM }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const DECIMAL = /^[1-9][0-9]{0,9}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

function parseHash(stored: unknown): ParsedHash | undefined {
  if (typeof stored !== 'string' || stored.length > 512) return undefined;
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  if (!DECIMAL.test(n) || !DECIMAL.test(r) || !DECIMAL.test(p)) return undefined;
  if (!B64URL.test(salt) || !B64URL.test(hash)) return undefined;
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  // scrypt requires N to be a power of two > 1.
  if (N < 2 || N > MAX_N || (N & (N - 1)) !== 0) return undefined;
  if (R > MAX_R || P > MAX_P || 128 * N * R > MAX_MEM || N * R * P > MAX_WORK) return undefined;
  const saltBuf = Buffer.from(salt, 'base64url');
  const hashBuf = Buffer.from(hash, 'base64url');
  if (saltBuf.length < 8 || hashBuf.length < MIN_KEY || hashBuf.length > MAX_KEY) return undefined;
  return { N, r: R, p: P, salt: saltBuf, hash: hashBuf };
}
