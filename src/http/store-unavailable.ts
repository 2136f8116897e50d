/**
 * A shared store that fails to answer (PostgreSQL down, a lost connection, a failed statement)
 * becomes a 503 with `Retry-After`, code CP_ERR_STORE_UNAVAILABLE, not a 500: the request was fine
 * and can be retried. The error carries Fastify's `statusCode` and `headers`, so Fastify's own error
 * handler answers it; the Open311 scope turns it into GeoReport's shape. `StoreAnswers` does the
 * turning, and the logging.
 *
 * Only promises are wrapped: a synchronous store (SQLite) that throws is a fault of this process
 * and stays a 500, as it always was.
 */
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import type { Logger } from '../observability/logger.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import type { Awaitable } from './dispatch-ports.js';

/** What a client is told to wait before it retries: a few seconds, like a refused event stream. */
export const STORE_RETRY_AFTER_S = 5;

/** The 503 of a route that reads a shared store, as its response schema describes it. */
export const STORE_UNAVAILABLE_DESCRIPTION = 'the shared database is unreachable (CP_ERR_STORE_UNAVAILABLE); retry after Retry-After seconds';

export class StoreUnavailableError extends CitypipeError {
  readonly statusCode = 503;
  readonly headers = { 'retry-after': String(STORE_RETRY_AFTER_S) };

  constructor(cause: unknown) {
    // The cause stays in the log: a driver's message can name hosts and accounts, and some routes are public.
    super(ErrorCodes.STORE_UNAVAILABLE, `the shared database is unreachable or failed to answer; retry in ${STORE_RETRY_AFTER_S} s (the service log has the cause)`, { cause });
    this.name = 'StoreUnavailableError';
  }
}

export function isPromiseLike<T>(value: Awaitable<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** How often a failing store is logged: an outage fails every request, and one line says so. */
const LOG_EVERY_MS = 10_000;

/**
 * Where a group of routes hands what its stores answer: a value as it is; a promise as the same
 * promise, its rejection a `StoreUnavailableError`, logged (with the cause and the code) at most once
 * per `LOG_EVERY_MS`. Fastify logs no failed request itself here (request logging is off).
 */
export class StoreAnswers {
  private readonly log: RateLimitedLog;

  constructor(log: Logger, logEveryMs = LOG_EVERY_MS) {
    this.log = new RateLimitedLog(log, logEveryMs);
  }

  read<T>(value: Promise<T>): Promise<T>;
  read<T>(value: Awaitable<T>): Awaitable<T>;
  read<T>(value: Awaitable<T>): Awaitable<T> {
    if (!isPromiseLike(value)) return value;
    return value.then(undefined, (err: unknown) => {
      if (err instanceof StoreUnavailableError) throw err;
      const failure = new StoreUnavailableError(err);
      this.log.warn({ err, code: failure.code }, 'an HTTP request failed: the shared database did not answer; answered 503');
      throw failure;
    });
  }
}
