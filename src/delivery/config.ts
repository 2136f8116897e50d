/**
 * Delivery targets from env-style strings. No zod here: the service's config schema takes these keys
 * as plain strings and calls `deliveryTargetsFrom` once at start, so a bad value fails the start with
 * the key's name rather than failing deliveries later.
 *
 * | key | meaning |
 * |---|---|
 * | `CITYPIPE_WEBHOOK_URLS` | comma-separated http(s) URLs; each gets every transition |
 * | `CITYPIPE_WEBHOOK_SECRET` | HMAC key for all of them (at least 16 characters) |
 * | `CITYPIPE_OPEN311_FORWARD_URL` | GeoReport v2 base URL; opened tickets are forwarded there |
 * | `CITYPIPE_OPEN311_API_KEY` | its `api_key` |
 * | `CITYPIPE_OPEN311_JURISDICTION_ID` | optional `jurisdiction_id` |
 */
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

/**
 * The targets the given settings describe; empty when none is set. Webhook targets are named
 * `webhook:<origin><path>`, so the name stays the same when the list is reordered (delivery rows are
 * keyed by name) and carries no credentials or query string into logs and metric labels.
 * Throws `CitypipeError` (CP_ERR_CONFIG_INVALID) naming the key.
 */
export function deliveryTargetsFrom(env: DeliveryEnv): DeliveryTarget[] {
  const targets: DeliveryTarget[] = [];
  const urls = splitList(env.CITYPIPE_WEBHOOK_URLS);
  const secret = blankToUndefined(env.CITYPIPE_WEBHOOK_SECRET);
  if (urls.length > 0 && secret === undefined) invalid('CITYPIPE_WEBHOOK_SECRET', 'is required when CITYPIPE_WEBHOOK_URLS is set: every webhook is signed');
  if (urls.length === 0 && secret !== undefined) invalid('CITYPIPE_WEBHOOK_SECRET', 'is set but CITYPIPE_WEBHOOK_URLS is empty; set both or neither');
  if (secret !== undefined && secret.length < MIN_SECRET_LENGTH) invalid('CITYPIPE_WEBHOOK_SECRET', `must be at least ${MIN_SECRET_LENGTH} characters`);
  const names = new Set<string>();
  for (const raw of urls) {
    const url = httpUrl('CITYPIPE_WEBHOOK_URLS', raw);
    const name = `webhook:${url.origin}${url.pathname}`;
    if (names.has(name)) invalid('CITYPIPE_WEBHOOK_URLS', `lists ${url.origin}${url.pathname} twice`);
    names.add(name);
    const target: WebhookTarget = { kind: 'webhook', name, url: url.href, secret: secret as string };
    targets.push(Object.freeze(target));
  }
  const forward = blankToUndefined(env.CITYPIPE_OPEN311_FORWARD_URL);
  const apiKey = blankToUndefined(env.CITYPIPE_OPEN311_API_KEY);
  const jurisdictionId = blankToUndefined(env.CITYPIPE_OPEN311_JURISDICTION_ID);
  if (forward !== undefined) {
    const url = httpUrl('CITYPIPE_OPEN311_FORWARD_URL', forward);
    if (url.search) invalid('CITYPIPE_OPEN311_FORWARD_URL', 'must be the endpoint base without a query string (…/open311/v2); requests.json is appended');
    if (apiKey === undefined) invalid('CITYPIPE_OPEN311_API_KEY', 'is required when CITYPIPE_OPEN311_FORWARD_URL is set');
    const target: Open311Target = { kind: 'open311', name: OPEN311_TARGET_NAME, url: url.href.replace(/\/+$/, ''), apiKey: apiKey as string, jurisdictionId };
    targets.push(Object.freeze(target));
  } else {
    if (apiKey !== undefined) invalid('CITYPIPE_OPEN311_API_KEY', 'is set but CITYPIPE_OPEN311_FORWARD_URL is not');
    if (jurisdictionId !== undefined) invalid('CITYPIPE_OPEN311_JURISDICTION_ID', 'is set but CITYPIPE_OPEN311_FORWARD_URL is not');
  }
  return targets;
}

function httpUrl(key: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return invalid(key, `"${redact(raw)}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') invalid(key, `"${redact(raw)}" must be an http:// or https:// URL, not ${url.protocol}`);
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

/** Drops user:password@ so an error message does not print a credential. */
function redact(raw: string): string {
  return raw.replace(/\/\/[^/@]*@/, '//***@');
}

function invalid(key: string, why: string): never {
  throw new CitypipeError(ErrorCodes.CONFIG_INVALID, `${key}: ${why}`);
}
