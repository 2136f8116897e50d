import { describe, expect, it } from 'vitest';
import { hashSecret } from '../catalog/secrets.js';
import { accountEntry, parseAccounts } from './accounts.js';

const h1 = hashSecret('one');
const h2 = hashSecret('two');

describe('parseAccounts', () => {
  it('reads name:hash entries separated by commas, spaces or line breaks', () => {
    const r = parseAccounts(`ops:${h1}, grafana:${h2}\n`);
    expect(r).toEqual({ ok: true, accounts: [{ name: 'ops', role: 'operator', secretHash: h1 }, { name: 'grafana', role: 'operator', secretHash: h2 }] });
    expect(parseAccounts('')).toEqual({ ok: true, accounts: [] });
  });

  it('reads a network server as name:network-server:hash, and writes each role\'s entry so', () => {
    const r = parseAccounts(`${accountEntry('chirpstack', 'network-server', h1)},${accountEntry('ops', 'operator', h2)}`);
    expect(r).toEqual({ ok: true, accounts: [{ name: 'chirpstack', role: 'network-server', secretHash: h1 }, { name: 'ops', role: 'operator', secretHash: h2 }] });
    expect(accountEntry('chirpstack', 'network-server', h1)).toBe(`chirpstack:network-server:${h1}`);
    expect(accountEntry('ops', 'operator', h1)).toBe(`ops:${h1}`);
  });

  it('reads a citypipe worker on a broker cluster as name:worker:hash', () => {
    expect(parseAccounts(accountEntry('citypipe-worker', 'worker', h1))).toEqual({ ok: true, accounts: [{ name: 'citypipe-worker', role: 'worker', secretHash: h1 }] });
  });

  it.each([
    ['ops', /expected name:scrypt/],
    [`:${h1}`, /expected name:scrypt/],
    [`o/ps:${h1}`, /must match/],
    ['ops:secret', /not a scrypt/],
    ['ops:scrypt$1048576$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo', /not a scrypt/],
    [`ops:${h1},ops:${h2}`, /twice/],
    [`ns:gateway:${h1}`, /unknown role "gateway" \(known: operator, network-server, worker/],
    [`ns:network-server:secret`, /not a scrypt/],
  ])('refuses %s', (text, message) => {
    const r = parseAccounts(text);
    expect(r.ok).toBe(false);
    expect((r as { message: string }).message).toMatch(message);
  });
});
