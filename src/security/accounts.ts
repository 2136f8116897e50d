/**
 * Accounts (CITYPIPE_MQTT_ACCOUNTS): MQTT clients that are not devices. Each entry is
 * `name:scrypt$…` (the salted hash of its secret) for an operator or integration account, which may
 * only subscribe to rule events (`city/events/#`), `name:network-server:scrypt$…` for a LoRaWAN
 * network server (ChirpStack's MQTT integration), which may only publish its uplink events
 * (`application/+/device/+/event/+`, CONTRACT §7), or `name:worker:scrypt$…` for citypipe's own
 * workers on a broker cluster (CONTRACT §8): the account CITYPIPE_BROKER_USERNAME/PASSWORD logs in
 * with, which may subscribe to the device and network-server topics (shared or not) and publish only
 * rule events. The cluster's broker learns of it through the hooks of broker-hooks.ts, so every worker
 * that answers them lists it. `citypipe devices account NAME [--role …]` makes one.
 */
import { DEVICE_ID } from '../catalog/types.js';
import { isSecretHash } from '../catalog/secrets.js';

/**
 * What an account may do: `operator` subscribes to rule events; `network-server` publishes uplinks;
 * `worker` consumes readings and publishes rule events (a citypipe worker on a broker cluster).
 */
export const ACCOUNT_ROLES = ['operator', 'network-server', 'worker'] as const;
export type AccountRole = (typeof ACCOUNT_ROLES)[number];

/** One account: its name (MQTT username), its role and the salted scrypt hash of its secret. */
export interface MqttAccount {
  readonly name: string;
  readonly role: AccountRole;
  readonly secretHash: string;
}

/** The CITYPIPE_MQTT_ACCOUNTS entry of an account: `name:hash`, or `name:role:hash` for a role other than operator. */
export function accountEntry(name: string, role: AccountRole, secretHash: string): string {
  return role === 'operator' ? `${name}:${secretHash}` : `${name}:${role}:${secretHash}`;
}

/**
 * Parses `name:scrypt$…` entries separated by commas, spaces or line breaks. Returns the accounts,
 * or a message saying what is wrong with which entry (the caller names the key).
 */
export function parseAccounts(text: string): { ok: true; accounts: MqttAccount[] } | { ok: false; message: string } {
  const accounts: MqttAccount[] = [];
  const seen = new Set<string>();
  for (const entry of text.split(/[\s,]+/).filter((e) => e !== '')) {
    const colon = entry.indexOf(':');
    if (colon <= 0) return { ok: false, message: `expected name:scrypt$… or name:ROLE:scrypt$… entries, ROLE network-server or worker (make one with \`npx citypipe devices account NAME\`), got ${JSON.stringify(shorten(entry))}` };
    const name = entry.slice(0, colon);
    let secretHash = entry.slice(colon + 1);
    let role: AccountRole = 'operator';
    if (!secretHash.startsWith('scrypt$') && secretHash.includes(':')) {
      const given = secretHash.slice(0, secretHash.indexOf(':'));
      if (!(ACCOUNT_ROLES as readonly string[]).includes(given)) {
        return { ok: false, message: `account ${name}: unknown role ${JSON.stringify(shorten(given))} (known: ${ACCOUNT_ROLES.join(', ')}; an operator entry is name:scrypt$…)` };
      }
      role = given as AccountRole;
      secretHash = secretHash.slice(given.length + 1);
    }
    if (!DEVICE_ID.test(name)) return { ok: false, message: `account name ${JSON.stringify(shorten(name))} must match [A-Za-z0-9_.-]{1,64}` };
    if (!isSecretHash(secretHash)) {
      return { ok: false, message: `account ${name}: ${JSON.stringify(shorten(secretHash))} is not a scrypt$N$r$p$salt$hash secret hash (make one with \`npx citypipe devices account ${name}\`)` };
    }
    if (seen.has(name)) return { ok: false, message: `account ${name} appears twice` };
    seen.add(name);
    accounts.push({ name, role, secretHash });
  }
  return { ok: true, accounts };
}

function shorten(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
