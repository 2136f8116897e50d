/**
 * What must never leave the delivery stage in a log line, a metric label, a stored error or an API
 * answer: a target's URL path and query (for Slack- or Teams-style webhooks the path is the
 * credential), its userinfo, the webhook signing secret and the Open311 `api_key`. A receiver's
 * answer and a fetch error can carry them (a 404 page that echoes the path it was asked for, an
 * error that names the URL), so every such text passes through the target's redactor before anything
 * records it.
 */
import type { DeliveryTarget } from './types.js';

export const REDACTED = '[redacted]';

/**
 * A path segment or query value alone is hidden when it looks like a token: 8+ characters with a
 * digit, or 16+ characters. Words such as `services` or `hooks` are left readable.
 */
const looksLikeToken = (s: string): boolean => (s.length >= 8 && /\d/.test(s)) || s.length >= 16;

/** Replaces every secret of `target` in a text with `[redacted]`. */
export function redactorFor(target: DeliveryTarget): (text: string) => string {
  const secrets = secretsOf(target);
  return (text) => {
    let out = text;
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  };
}

/** The strings to hide, longest first (so a whole URL goes before the path inside it). */
export function secretsOf(target: DeliveryTarget): string[] {
  const found = new Set<string>();
  const add = (s: string | undefined, min = 1): void => {
    if (s === undefined || s.length < min) return;
    found.add(s);
    for (const variant of [safeDecode(s), encodeURIComponent(s), new URLSearchParams({ v: s }).toString().slice(2)]) if (variant && variant.length >= min) found.add(variant);
  };
  const url = new URL(target.url);
  add(url.href);
  add(url.href.replace(/\/+$/, ''));
  add(url.username, 1);
  add(url.password, 1);
  if (url.pathname.length > 1) {
    add(`${url.host}${url.pathname}`);
    add(`${url.pathname}${url.search}`);
    add(url.pathname.replace(/\/+$/, ''), 2);
    for (const segment of url.pathname.split('/')) if (looksLikeToken(segment)) add(segment);
  }
  if (url.search) {
    add(url.search);
    for (const value of url.searchParams.values()) if (looksLikeToken(value)) add(value);
  }
  // A key of one to three characters cannot be hidden without mangling every message; config
  // requires 16 for the webhook secret, and real api_keys are far longer.
  if (target.kind === 'webhook') add(target.secret, 4);
  else add(target.apiKey, 4);
  return [...found].sort((a, b) => b.length - a.length);
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
