/**
 * Operator and integration accounts (CITYPIPE_MQTT_ACCOUNTS): MQTT clients that are not devices and
 * may only subscribe to rule events (`city/events/#`). Each is `name:scrypt$…`, the salted hash of
 * its secret; `citypipe devices account NAME` makes one.
 */
import { DEVICE_ID } from '../catalog/types.js';
import { isSecretHash } from '../catalog/secrets.js';

/** One account: its name (MQTT username) and the salted scrypt hash of its secret. */
export interface MqttAccount {
  readonly name: string;
  readonly secretHash: string;
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
    if (colon <= 0) return { ok: false, message: `expected name:scrypt$… entries (make one with \`npx citypipe devices account NAME\`), got ${JSON.stringify(shorten(entry))}` };
    const name = entry.slice(0, colon);
    const secretHash = entry.slice(colon + 1);
    if (!DEVICE_ID.test(name)) return { ok: false, message: `account name ${JSON.stringify(shorten(name))} must match [A-Za-z0-9_.-]{1,64}` };
    if (!isSecretHash(secretHash)) {
      return { ok: false, message: `account ${name}: ${JSON.stringify(shorten(secretHash))} is not a scrypt$N$r$p$salt$hash secret hash (make one with \`npx citypipe devices account ${name}\`)` };
    }
    if (seen.has(name)) return { ok: false, message: `account ${name} appears twice` };
    seen.add(name);
    accounts.push({ name, secretHash });
  }
  return { ok: true, accounts };
}

function shorten(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
