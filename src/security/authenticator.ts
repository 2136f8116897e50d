/**
 * Decides who an MQTT client is: a catalog device (by its secret, or by a client certificate whose
 * CN is its id) or a configured account. The broker asks it once per CONNECT and, when the catalog
 * changes, asks {@link Authenticator.stillValid} of every connected identity.
 */
import type { AuthDecision, AuthRequest, Identity } from '../broker/broker.js';
import type { DeviceCatalog } from '../catalog/catalog.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import { verifySecretAsync } from '../catalog/secrets.js';
import type { MqttAccount } from './accounts.js';

/** Answers the broker's {@link AuthRequest}s from the current catalog and the configured accounts. */
export class Authenticator {
  private readonly catalog: () => DeviceCatalog;
  private readonly accounts: ReadonlyMap<string, MqttAccount>;
  /**
   * Secrets that passed scrypt, per device: the catalog hash they were checked against and a SHA-256
   * of the secret. A device reconnecting with the same secret (every reconnect, and a whole fleet
   * after a network outage) then costs a hash and a constant-time compare instead of ~1.7 ms of
   * scrypt; without it a reconnect storm of 20,000 devices needs 17 s of both cores and collapses
   * (docs/BENCHMARKS.md, burst). Device secrets are 192-bit random strings, so a fast hash of one in
   * memory reveals nothing; the slow hash protects the catalog file at rest. An entry is used only
   * while the catalog still holds the same `secretHash` (a rotation or revocation invalidates it).
   */
  private readonly verified = new Map<string, { readonly secretHash: string; readonly digest: Buffer }>();
  /** Secrets anyone can read (published-secrets.ts): refused for every device. */
  private readonly published: ReadonlySet<string>;

  /**
   * `catalog` is read on every call: the service swaps in a new one when the files change.
   * `published`: secrets to refuse whatever the catalog says (the demo fleet's, outside the demo).
   */
  constructor(catalog: () => DeviceCatalog, accounts: readonly MqttAccount[], published: ReadonlySet<string> = new Set()) {
    this.catalog = catalog;
    this.accounts = new Map(accounts.map((a) => [a.name, a]));
    this.published = published;
  }

  /** The account names that are also device ids in `catalog` (ambiguous usernames). */
  clashes(catalog: DeviceCatalog): string[] {
    return [...this.accounts.keys()].filter((name) => catalog.get(name) !== undefined);
  }

  /** Never rejects. Secrets are verified off the event loop, in constant time. */
  async authenticate(req: AuthRequest): Promise<AuthDecision> {
    const catalog = this.catalog();
    if (req.certificateName !== undefined) {
      const id = req.certificateName;
      if (req.username !== undefined && req.username !== id) return bad(`username ${req.username} is not the certificate's CN ${id}`);
      const record = catalog.get(id);
      if (record === undefined) return bad(`the certificate's CN ${id} is not a device in the catalog`);
      if (record.revokedAt !== undefined) return { outcome: 'not_authorized', reason: `device ${id} was revoked at ${record.revokedAt}` };
      return { outcome: 'ok', identity: { kind: 'device', id, type: record.type, via: 'certificate', credential: 'certificate' } };
    }
    const { username, password } = req;
    if (username === undefined || password === undefined) return { outcome: 'anonymous' };

    const account = this.accounts.get(username);
    if (account !== undefined) {
      return (await verifySecretAsync(password, account.secretHash)) ? { outcome: 'ok', identity: { kind: 'account', name: username, role: account.role } } : bad(`wrong secret for account ${username}`);
    }
    const record = catalog.get(username);
    if (this.published.size > 0 && this.published.has(password.toString('utf8'))) {
      return {
        outcome: 'not_authorized',
        reason: `device ${username} presented a secret that is published with citypipe's demo fleet (simulators/demo-credentials.json); only \`citypipe demo\` accepts those. Give it its own: \`npx citypipe devices rotate-secret ${username}\``,
      };
    }
    const digest = createHash('sha256').update(password).digest();
    const known = this.verified.get(username);
    if (record !== undefined && record.revokedAt === undefined && known !== undefined && known.secretHash === record.secretHash && timingSafeEqual(known.digest, digest)) {
      return { outcome: 'ok', identity: { kind: 'device', id: username, type: record.type, via: 'password', credential: record.secretHash } };
    }
    switch (await catalog.authenticateAsync(username, password)) {
      case 'ok':
        this.verified.set(username, { secretHash: record!.secretHash!, digest });
        return { outcome: 'ok', identity: { kind: 'device', id: username, type: record!.type, via: 'password', credential: record!.secretHash! } };
      case 'unknown_device':
        return bad(`${username} is neither a device in the catalog nor an account`);
      case 'revoked':
        return { outcome: 'not_authorized', reason: `device ${username} was revoked at ${record?.revokedAt ?? '?'}` };
      case 'no_secret':
        return bad(`device ${username} has no secret; issue one with \`npx citypipe devices rotate-secret ${username}\``);
      case 'bad_secret':
        return bad(`wrong secret for device ${username}`);
    }
  }

  /**
   * Who `name` is now, without a secret: for a broker cluster that authenticated the client earlier
   * through {@link authenticate} and asks what it may do (broker-hooks.ts). `revoked` for a catalog
   * device that was revoked since; undefined for a name that is neither a device nor an account.
   */
  identityOf(name: string): Identity | 'revoked' | undefined {
    const account = this.accounts.get(name);
    if (account !== undefined) return { kind: 'account', name, role: account.role };
    const record = this.catalog().get(name);
    if (record === undefined) return undefined;
    if (record.revokedAt !== undefined) return 'revoked';
    return { kind: 'device', id: name, type: record.type, via: 'password', credential: record.secretHash ?? '' };
  }

  /** Is `name` a device id in the catalog or an account name? */
  knows(name: string): boolean {
    return this.accounts.has(name) || this.catalog().get(name) !== undefined;
  }

  /**
   * Whether a connected identity still holds after a catalog change: the device is still there,
   * not revoked, of the same type, and (if it used a secret) with the secret it used.
   */
  stillValid(identity: Identity): boolean {
    if (identity.kind === 'account') return this.accounts.get(identity.name)?.role === identity.role;
    const record = this.catalog().get(identity.id);
    if (record === undefined || record.revokedAt !== undefined || record.type !== identity.type) return false;
    return identity.via === 'certificate' || record.secretHash === identity.credential;
  }
}

function bad(reason: string): AuthDecision {
  return { outcome: 'bad_credentials', reason };
}
