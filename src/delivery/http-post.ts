/**
 * One HTTP POST with the delivery stage's rules for what an answer means: 2xx delivered; network
 * errors, timeouts, 408, 429 and 5xx retryable (with Retry-After when given); any other status final.
 * Redirects are not followed: a POST silently turned into a GET would be reported as delivered.
 */
import type { SendResult } from './types.js';

/** How much of an error answer is kept for the log and the failed row. */
export const BODY_EXCERPT_CHARS = 512;

const USER_AGENT = 'citypipe-delivery/1';

export interface PostResult {
  readonly result: SendResult;
  /** The full answer body of a 2xx, for channels that read it (Open311's remote id). */
  readonly body?: string | undefined;
}

/** POSTs `body`; never throws for a receiver's failure. */
export async function postOnce(
  url: string,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
  nowMs: () => number = Date.now,
): Promise<PostResult> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'User-Agent': USER_AGENT, ...headers }, body, signal, redirect: 'manual' });
  } catch (err) {
    return { result: { ok: false, retryable: true, error: describeFetchError(err, signal) } };
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    // The status arrived but the body did not: for a 2xx we cannot know the receiver kept it, and the
    // idempotency key makes a repeat safe.
    return { result: { ok: false, retryable: true, status: res.status, error: `answer body lost: ${describeFetchError(err, signal)}` } };
  }
  if (res.status >= 200 && res.status < 300) return { result: { ok: true, status: res.status }, body: text };
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), nowMs());
  const error = res.status >= 300 && res.status < 400 ? `HTTP ${res.status} redirect to ${res.headers.get('location') ?? '?'} (not followed)` : `HTTP ${res.status}`;
  return { result: { ok: false, retryable, status: res.status, retryAfterMs, error, bodyExcerpt: excerpt(text) } };
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > BODY_EXCERPT_CHARS ? `${flat.slice(0, BODY_EXCERPT_CHARS)}…` : flat;
}

function describeFetchError(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof DOMException && reason.name === 'TimeoutError') return 'timed out';
    return 'aborted';
  }
  // undici wraps the socket error: TypeError('fetch failed', { cause: Error('connect ECONNREFUSED …') }).
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : undefined;
  const code = cause && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
  if (code) return `${code}: ${cause?.message ?? ''}`.trim();
  return err instanceof Error ? err.message : String(err);
}
