import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { demoCredentialsFile } from '../paths.js';
import { publishedSecrets } from './published-secrets.js';
import { Authenticator } from './authenticator.js';
import { DeviceCatalog } from '../catalog/catalog.js';
import { hashSecret } from '../catalog/secrets.js';
import type { AuthRequest } from '../broker/broker.js';

function device(id: string, secret: string, extra: Record<string, unknown> = {}) {
  return { id, type: 'waste-bin', location: { lat: 52.37, lon: 4.89 }, district: 'centrum', secretHash: hashSecret(secret), ...extra };
}

/** Counts the scrypt verifications the catalog performs. */
function counting(catalog: DeviceCatalog): { catalog: DeviceCatalog; verifications: () => number } {
  let n = 0;
  const original = catalog.authenticateAsync.bind(catalog);
  catalog.authenticateAsync = (id, password) => {
    n++;
    return original(id, password);
  };
  return { catalog, verifications: () => n };
}

const req = (username: string, password: string): AuthRequest => ({ username, password: Buffer.from(password) }) as AuthRequest;

describe('Authenticator', () => {
  it('verifies a device secret with scrypt once, then recognises the same secret without it', async () => {
    const { catalog, verifications } = counting(DeviceCatalog.fromRecords([device('bin-1', 's3cret-one')]));
    const auth = new Authenticator(() => catalog, []);
    for (let i = 0; i < 5; i++) expect((await auth.authenticate(req('bin-1', 's3cret-one'))).outcome).toBe('ok');
    expect(verifications()).toBe(1);
  });

  it('still refuses a wrong secret for a device whose right secret is remembered', async () => {
    const { catalog } = counting(DeviceCatalog.fromRecords([device('bin-1', 's3cret-one')]));
    const auth = new Authenticator(() => catalog, []);
    expect((await auth.authenticate(req('bin-1', 's3cret-one'))).outcome).toBe('ok');
    expect((await auth.authenticate(req('bin-1', 's3cret-two'))).outcome).toBe('bad_credentials');
  });

  it('forgets a remembered secret when the catalog rotates it or revokes the device', async () => {
    let catalog = DeviceCatalog.fromRecords([device('bin-1', 'old-secret')]);
    const auth = new Authenticator(() => catalog, []);
    expect((await auth.authenticate(req('bin-1', 'old-secret'))).outcome).toBe('ok');
    catalog = DeviceCatalog.fromRecords([device('bin-1', 'new-secret')]);
    expect((await auth.authenticate(req('bin-1', 'old-secret'))).outcome).toBe('bad_credentials');
    expect((await auth.authenticate(req('bin-1', 'new-secret'))).outcome).toBe('ok');
    catalog = DeviceCatalog.fromRecords([{ ...device('bin-1', 'x'), secretHash: catalog.get('bin-1')!.secretHash, revokedAt: '2026-11-28T00:00:00Z' }]);
    expect((await auth.authenticate(req('bin-1', 'new-secret'))).outcome).toBe('not_authorized');
  });

  it('refuses a device presenting a published demo secret, whatever its catalog hash says', async () => {
    const demo = JSON.parse(readFileSync(demoCredentialsFile, 'utf8')) as Record<string, string>;
    const [id, secret] = Object.entries(demo)[0]!;
    // The demo catalog's record, copied into a city's catalog.
    const catalog = DeviceCatalog.fromRecords([device(id, secret)]);
    const refused = await new Authenticator(() => catalog, [], publishedSecrets()).authenticate(req(id, secret));
    expect(refused).toMatchObject({ outcome: 'not_authorized' });
    expect((refused as { reason: string }).reason).toMatch(/published.*rotate-secret/s);
    // The demo itself accepts them.
    expect((await new Authenticator(() => catalog, []).authenticate(req(id, secret))).outcome).toBe('ok');
  });
});
