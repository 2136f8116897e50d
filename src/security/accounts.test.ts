import { describe, expect, it } from 'vitest';
import { hashSecret } from '../catalog/secrets.js';
import { parseAccounts } from './accounts.js';

const h1 = hashSecret('one');
const h2 = hashSecret('two');

describe('parseAccounts', () => {
  it('reads name:hash entries separated by commas, spaces or line breaks', () => {
    const r = parseAccounts(`ops:${h1}, grafana:${h2}\n`);
    expect(r).toEqual({ ok: true, accounts: [{ name: 'ops', secretHash: h1 }, { name: 'grafana', secretHash: h2 }] });
    expect(parseAccounts('')).toEqual({ ok: true, accounts: [] });
  });

  it.each([
    ['ops', /expected name:scrypt/],
    [`:${h1}`, /expected name:scrypt/],
    [`o/ps:${h1}`, /must match/],
    ['ops:secret', /not a scrypt/],
    ['ops:scrypt$1048576$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo', /not a scrypt/],
    [`ops:${h1},ops:${h2}`, /twice/],
  ])('refuses %s', (text, message) => {
    const r = parseAccounts(text);
    expect(r.ok).toBe(false);
    expect((r as { message: string }).message).toMatch(message);
  });
});
