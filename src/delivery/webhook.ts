/**
 * The webhook channel: every ticket transition as signed JSON.
 *
 * The signature follows the scheme Stripe and Slack made familiar: HMAC-SHA256 over
 * `${timestamp}.${body}`, sent as `X-Citypipe-Signature: sha256=<hex>` with the timestamp (unix
 * seconds) in `X-Citypipe-Timestamp`. The body is identical on every attempt; the timestamp and the
 * signature are made fresh per attempt, so a receiver can reject old replays with a tolerance window.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { postOnce } from './http-post.js';
import type { DeliveryChannel, OutgoingMessage, SendResult, WebhookTarget } from './types.js';

export const SIGNATURE_HEADER = 'X-Citypipe-Signature';
export const TIMESTAMP_HEADER = 'X-Citypipe-Timestamp';
export const EVENT_HEADER = 'X-Citypipe-Event';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** The JSON body of a webhook delivery. */
export interface WebhookPayload {
  /** The idempotency key, `<ticketId>:<seq>`: a receiver that has seen it can answer 2xx and skip it. */
  readonly id: string;
  readonly type: 'ticket.opened' | 'ticket.updated' | 'ticket.closed';
  /** ISO 8601 time of the transition. */
  readonly occurredAt: string;
  readonly ticket: OutgoingMessage['ticket'];
}

/** The body bytes for a message; exported so receivers' tests can build the same thing. */
export function webhookBody(message: Pick<OutgoingMessage, 'key' | 'transition' | 'at' | 'ticket'>): string {
  const payload: WebhookPayload = {
    id: message.key,
    type: `ticket.${message.transition}`,
    occurredAt: new Date(message.at).toISOString(),
    ticket: message.ticket,
  };
  return JSON.stringify(payload);
}

/** `sha256=<hex>` of HMAC-SHA256(secret, `${timestamp}.${body}`). */
export function signPayload(secret: string, timestamp: string | number, body: string | Buffer): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(body);
  return `sha256=${mac.digest('hex')}`;
}

/**
 * Checks a signature header against the body a receiver got, in constant time. `header` may list
 * several comma-separated signatures (e.g. during a secret rotation); one match is enough. The
 * timestamp must be within `toleranceS` seconds of `nowMs`, so a captured request cannot be replayed
 * later.
 */
export function verifySignature(
  secret: string,
  header: string | null | undefined,
  timestamp: string | number | null | undefined,
  body: string | Buffer,
  toleranceS: number,
  nowMs: number = Date.now(),
): boolean {
  if (!header || timestamp === null || timestamp === undefined) return false;
  const ts = String(timestamp).trim();
  if (!/^\d+$/.test(ts)) return false;
  if (Math.abs(nowMs / 1000 - Number(ts)) > toleranceS) return false;
  const expected = Buffer.from(signPayload(secret, ts, body));
  let match = false;
  for (const candidate of header.split(',')) {
    const got = Buffer.from(candidate.trim());
    // timingSafeEqual needs equal lengths; a length mismatch says nothing about the secret.
    if (got.length === expected.length && timingSafeEqual(got, expected)) match = true;
  }
  return match;
}

export interface WebhookChannelOptions {
  /** Per attempt, including reading the answer. */
  timeoutMs?: number | undefined;
  now?: (() => number) | undefined;
}

export class WebhookChannel implements DeliveryChannel {
  private readonly target: WebhookTarget;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(target: WebhookTarget, opts: WebhookChannelOptions = {}) {
    this.target = target;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  async send(message: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const body = webhookBody(message);
    const timestamp = String(Math.floor(this.now() / 1000));
    const headers = {
      'Content-Type': 'application/json',
      [IDEMPOTENCY_HEADER]: message.key,
      [EVENT_HEADER]: `ticket.${message.transition}`,
      [TIMESTAMP_HEADER]: timestamp,
      [SIGNATURE_HEADER]: signPayload(this.target.secret, timestamp, body),
      'X-Citypipe-Attempt': String(message.attempt),
    };
    const signals = AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]);
    return (await postOnce(this.target.url, headers, body, signals, this.now)).result;
  }
}
