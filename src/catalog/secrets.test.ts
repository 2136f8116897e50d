import { randomBytes, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateSecret,
  hashSecret,
  hashSecretAsync,
  SCRYPT_PARAMS,
  verifySecret,
  verifySecretAsync,
} from './secrets.js';

describe('generateSecret', () => {
  it('returns at least 128 bits of base64url, different every time', () => {
    const a = generateSecret();
    const b = generateSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(a, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
    expect(a).not.toBe(b);
  });
});

describe('hashSecret', () => {
  it('stores its parameters and a random salt in the string', () => {
    const secret = generateSecret();
    const h1 = hashSecret(secret);
    const h2 = hashSecret(secret);
    const { N, r, p } = SCRYPT_PARAMS;
    expect(h1).toMatch(new RegExp(`^scrypt\\$${N}\\$${r}\\$${p}\\$[A-Za-z0-9_-]+\\$[A-Za-z0-9_-]+$`));
    expect(h1).not.toBe(h2);
    expect(h1).not.toContain(secret);
  });

  it('async and sync hashes verify both ways', async () => {
    const secret = generateSecret();
    const h = await hashSecretAsync(secret);
    expect(verifySecret(secret, h)).toBe(true);
    expect(await verifySecretAsync(secret, hashSecret(secret))).toBe(true);
  });
});

describe('verifySecret', () => {
  const secret = generateSecret();
  const stored = hashSecret(secret);

  it('accepts the right secret, as a string or as the bytes MQTT delivers', async () => {
    expect(verifySecret(secret, stored)).toBe(true);
    expect(verifySecret(Buffer.from(secret), stored)).toBe(true);
    expect(await verifySecretAsync(Buffer.from(secret), stored)).toBe(true);
  });

  it('refuses a wrong secret', async () => {
    expect(verifySecret(secret + 'x', stored)).toBe(false);
    expect(verifySecret('', stored)).toBe(false);
    expect(await verifySecretAsync(generateSecret(), stored)).toBe(false);
  });

  it('verifies with the parameters stored in the hash, not the current defaults', () => {
    // Hashes made before a change of SCRYPT_PARAMS must keep working after it.
    const salt = randomBytes(16);
    const key = scryptSync(secret, salt, 32, { N: 2048, r: 4, p: 2 });
    const older = `scrypt$2048$4$2$${salt.toString('base64url')}$${key.toString('base64url')}`;
    expect(verifySecret(secret, older)).toBe(true);
    expect(verifySecret(secret, older.replace('scrypt$2048$4$2', 'scrypt$2048$8$1'))).toBe(false);
  });

  const malformed: Array<[string, unknown]> = [
    ['empty', ''],
    ['not scrypt', stored.replace(/^scrypt/, 'bcrypt')],
    ['too few parts', stored.split('$').slice(0, 5).join('$')],
    ['too many parts', stored + '$x'],
    ['N not a power of two', stored.replace(/^scrypt\$\d+/, 'scrypt$1000')],
    ['N = 1', stored.replace(/^scrypt\$\d+/, 'scrypt$1')],
    ['N huge', stored.replace(/^scrypt\$\d+/, 'scrypt$1073741824')],
    ['r huge', stored.replace(/^(scrypt\$\d+)\$\d+/, '$1$9999')],
    ['p zero', stored.replace(/^(scrypt\$\d+\$\d+)\$\d+/, '$1$0')],
    ['N·r·p too much work', stored.replace(/^(scrypt\$\d+\$\d+)\$\d+/, '$1$16').replace(/^scrypt\$\d+/, 'scrypt$1048576')],
    ['non-decimal N', stored.replace(/^scrypt\$\d+/, 'scrypt$0x400')],
    ['negative r', stored.replace(/^(scrypt\$\d+)\$\d+/, '$1$-8')],
    ['salt not base64url', stored.replace(/^((?:[^$]*\$){4})[^$]+/, '$1!!!!')],
    ['empty hash', stored.replace(/\$[^$]+$/, '$')],
    ['hash too short', stored.replace(/\$[^$]+$/, '$AAAA')],
    ['not a string', 42],
    ['undefined', undefined],
    ['huge', 'scrypt$' + 'A'.repeat(100_000)],
  ];
  it.each(malformed)('returns false without throwing for a malformed hash: %s', async (_name, bad) => {
    expect(verifySecret(secret, bad as string)).toBe(false);
    await expect(verifySecretAsync(secret, bad as string)).resolves.toBe(false);
  });

  it('returns false for a secret that is not a string or bytes', () => {
    expect(verifySecret(undefined as unknown as string, stored)).toBe(false);
    expect(verifySecret({} as unknown as string, stored)).toBe(false);
  });

  it('costs a few milliseconds per verification, not a password-grade 30+ ms', () => {
    // Guards the reconnect-storm budget documented on SCRYPT_PARAMS (~1.7 ms a verification).
    // Measured as this process's CPU time, not wall-clock time: a busy machine stretches the latter
    // (other processes get the cores), not the former. The bound stays under password-grade cost.
    verifySecret(secret, stored);
    const n = 10;
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) verifySecret(secret, stored);
    const { user, system } = process.cpuUsage(t0);
    const perVerifyMs = (user + system) / 1000 / n;
    expect(perVerifyMs).toBeLessThan(25);
  });
});
