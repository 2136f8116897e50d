/**
 * One HTTP POST with the delivery stage's rules for what an answer means: 2xx delivered; network
 * errors, timeouts, 408, 429 and 5xx retryable (with Retry-After when given); any other status final.
 * Redirects are not followed: a POST silently turned into a GET would be reported as delivered.
 *
 * The status decides; the answer body is only read for an excerpt (errors) and the Open311 remote id,
 * and at most `MAX_ANSWER_BYTES` of it: the rest is not downloaded (the connection is dropped), so a
 * receiver that answers with an endless or huge body costs 64 KiB of memory, not all of it.
 */
import type { SendResult } from './types.js';

/** How much of an error answer is kept for the log and the failed row. */
export const BODY_EXCERPT_CHARS = 512;

/** The most of an answer body that is read; a GeoReport answer with its id is far smaller. */
export const MAX_ANSWER_BYTES = 64 * 1024;

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
  // The status is the answer: a body that is cut off, endless or broken does not change it.
  const text = await readCapped(res, MAX_ANSWER_BYTES);
  if (res.status >= 200 && res.status < 300) return { result: { ok: true, status: res.status }, body: text };
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), nowMs());
  const error = res.status >= 300 && res.status < 400 ? `HTTP ${res.status} redirect to ${originOf(res.headers.get('location'), url)} (not followed)` : `HTTP ${res.status}`;
  return { result: { ok: false, retryable, status: res.status, retryAfterMs, error, bodyExcerpt: text ? excerpt(text) : undefined } };
}

/**
 * Up to `maxBytes` of the body as text; then the download is cancelled, which drops the connection
 * rather than reading on. A body that fails midway gives what arrived before.
 */
export async function readCapped(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = maxBytes - size;
      const piece = value.byteLength > room ? value.subarray(0, room) : value;
      chunks.push(piece);
      size += piece.byteLength;
    }
  } catch {
    // Reset, timed out, aborted: what arrived is all there is.
  } finally {
    reader.cancel().catch(() => undefined);
  }
  // `fatal: false`: a multi-byte character cut at the cap becomes U+FFFD, not an error.
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks));
}

/** Where a redirect points, origin only: its path and query may carry a credential. */
function originOf(location: string | null, base: string): string {
  if (location === null) return '?';
  try {
    return `${new URL(location, base).origin}/…`;
  } catch {
    return '?';
  }
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
