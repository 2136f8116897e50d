/**
 * Delivery targets from env-style strings. No zod here: the service's config schema takes these keys
 * as plain strings and calls `deliveryTargetsFrom` once at start, so a bad value fails the start with
 * the key's name rather than failing deliveries later.
 *
 * | key | meaning |
 * |---|---|
 * | `CITYPIPE_WEBHOOK_URLS` | comma-separated http(s) URLs, each optionally `name=URL`; each gets every transition |
 * | `CITYPIPE_WEBHOOK_SECRET` | HMAC key for all of them (at least 16 characters) |
 * | `CITYPIPE_OPEN311_FORWARD_URL` | GeoReport v2 base URL; opened tickets are forwarded there |
 * | `CITYPIPE_OPEN311_API_KEY` | its `api_key` |
 * | `CITYPIPE_OPEN311_JURISDICTION_ID` | optional `jurisdiction_id` |
 */
import { createHash } from 'node:crypto';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import type { DeliveryTarget, Open311Target, WebhookTarget } from './types.js';

export const DELIVERY_ENV_KEYS = [
  'CITYPIPE_WEBHOOK_URLS',
  'CITYPIPE_WEBHOOK_SECRET',
  'CITYPIPE_OPEN311_FORWARD_URL',
  'CITYPIPE_OPEN311_API_KEY',
  'CITYPIPE_OPEN311_JURISDICTION_ID',
] as const;

export type DeliveryEnv = Partial<Record<(typeof DELIVERY_ENV_KEYS)[number], string | undefined>>;

export const MIN_SECRET_LENGTH = 16;

/** The name of the Open311 forward target (delivery rows and `remoteIdOf` use it). */
export const OPEN311_TARGET_NAME = 'open311';

/** `name=URL` in CITYPIPE_WEBHOOK_URLS: what logs and metrics call the receiver. */
const OPERATOR_NAME = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})=(.*)$/s;

/**
 * The targets the given settings describe; empty when none is set.
 *
 * A webhook URL's path can be its credential (Slack, Teams and the like put the secret there), so
 * nothing the operator or a metric sees carries it:
 * - `label`, what logs, metrics and errors show: `webhook:<name>` for `name=URL`, else
 *   `webhook:<origin>`, with `#1`, `#2`… in list order when several URLs share an origin;
 * - `name`, the key delivery rows are stored under: `webhook:<origin>#<12 hex of SHA-256 of origin
 *   and path>`, so it stays the same when the list is reordered or a name changes, and is no
 *   credential either. Rows stored under the old key (`webhook:<origin><path>`) move to it at start.
 * Throws `CitypipeError` (CP_ERR_CONFIG_INVALID) naming the key, and never echoing a URL's path.
 */
export function deliveryTargetsFrom(env: DeliveryEnv): DeliveryTarget[] {
  const targets: DeliveryTarget[] = [];
  const entries = splitList(env.CITYPIPE_WEBHOOK_URLS);
  const secret = blankToUndefined(env.CITYPIPE_WEBHOOK_SECRET);
  if (entries.length > 0 && secret === undefined) invalid('CITYPIPE_WEBHOOK_SECRET', 'is required when CITYPIPE_WEBHOOK_URLS is set: every webhook is signed');
  if (entries.length === 0 && secret !== undefined) invalid('CITYPIPE_WEBHOOK_SECRET', 'is set but CITYPIPE_WEBHOOK_URLS is empty; set both or neither');
  if (secret !== undefined && secret.length < MIN_SECRET_LENGTH) invalid('CITYPIPE_WEBHOOK_SECRET', `must be at least ${MIN_SECRET_LENGTH} characters`);
  const parsed = entries.map((entry, i) => {
    const named = OPERATOR_NAME.exec(entry);
    return { position: i + 1, operatorName: named?.[1], url: httpUrl('CITYPIPE_WEBHOOK_URLS', named ? named[2]!.trim() : entry, i + 1) };
  });
  const keys = new Map<string, number>();
  const operatorNames = new Map<string, number>();
  const perOrigin = new Map<string, number>();
  for (const p of parsed) {
    const key = webhookKey(p.url);
    const earlier = keys.get(key);
    if (earlier !== undefined) invalid('CITYPIPE_WEBHOOK_URLS', `entries ${earlier} and ${p.position} are the same receiver (${p.url.origin}, same path); list each once`);
    keys.set(key, p.position);
    if (p.operatorName !== undefined) {
      const taken = operatorNames.get(p.operatorName);
      if (taken !== undefined) invalid('CITYPIPE_WEBHOOK_URLS', `entries ${taken} and ${p.position} are both named "${p.operatorName}"; give each receiver its own name`);
      operatorNames.set(p.operatorName, p.position);
    } else {
      perOrigin.set(p.url.origin, (perOrigin.get(p.url.origin) ?? 0) + 1);
    }
  }
  const seenOfOrigin = new Map<string, number>();
  for (const p of parsed) {
    let label: string;
    if (p.operatorName !== undefined) label = `webhook:${p.operatorName}`;
    else {
      const n = (seenOfOrigin.get(p.url.origin) ?? 0) + 1;
      seenOfOrigin.set(p.url.origin, n);
      label = (perOrigin.get(p.url.origin) ?? 0) > 1 ? `webhook:${p.url.origin}#${n}` : `webhook:${p.url.origin}`;
    }
    const target: WebhookTarget = {
      kind: 'webhook',
      name: webhookKey(p.url),
      label,
      url: p.url.href,
      secret: secret as string,
      formerNames: Object.freeze([`webhook:${p.url.origin}${p.url.pathname}`]),
    };
    targets.push(Object.freeze(target));
  }
  const forward = blankToUndefined(env.CITYPIPE_OPEN311_FORWARD_URL);
  const apiKey = blankToUndefined(env.CITYPIPE_OPEN311_API_KEY);
  const jurisdictionId = blankToUndefined(env.CITYPIPE_OPEN311_JURISDICTION_ID);
  if (forward !== undefined) {
    const url = httpUrl('CITYPIPE_OPEN311_FORWARD_URL', forward);
    if (url.search) invalid('CITYPIPE_OPEN311_FORWARD_URL', 'must be the endpoint base without a query string (…/open311/v2); requests.json is appended');
    if (apiKey === undefined) invalid('CITYPIPE_OPEN311_API_KEY', 'is required when CITYPIPE_OPEN311_FORWARD_URL is set');
    const target: Open311Target = { kind: 'open311', name: OPEN311_TARGET_NAME, label: OPEN311_TARGET_NAME, url: url.href.replace(/\/+$/, ''), apiKey: apiKey as string, jurisdictionId };
    targets.push(Object.freeze(target));
  } else {
    if (apiKey !== undefined) invalid('CITYPIPE_OPEN311_API_KEY', 'is set but CITYPIPE_OPEN311_FORWARD_URL is not');
    if (jurisdictionId !== undefined) invalid('CITYPIPE_OPEN311_JURISDICTION_ID', 'is set but CITYPIPE_OPEN311_FORWARD_URL is not');
  }
  return targets;
}

/** The stable storage key of a webhook: its origin and a digest of origin and path (never the path). */
function webhookKey(url: URL): string {
  const digest = createHash('sha256').update(`${url.origin}${url.pathname}`).digest('hex').slice(0, 12);
  return `webhook:${url.origin}#${digest}`;
}

/**
 * Parses one URL. Errors show the scheme and host at most: a path or query may be a credential.
 * `position` numbers the entry of a list.
 */
function httpUrl(key: string, raw: string, position?: number): URL {
  const which = position === undefined ? '' : `entry ${position} `;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return invalid(key, `${which}is not a URL (expected http(s)://host/path${position === undefined ? '' : ', or name=http(s)://host/path'})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') invalid(key, `${which}must be an http:// or https:// URL, not ${url.protocol}${url.host ? ` (${url.protocol}//${url.host}/…)` : ''}`);
  return url;
}

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function blankToUndefined(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

function invalid(key: string, why: string): never {
  throw new CitypipeError(ErrorCodes.CONFIG_INVALID, `${key}: ${why}`);
}
