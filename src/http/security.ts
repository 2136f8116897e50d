/**
 * What every HTTP request goes through before its route: a per-address rate limit, the bearer
 * token for protected routes, and security headers on every answer.
 *
 * A route is protected when it changes state (any method but GET, HEAD and OPTIONS) or declares
 * `config: { protected: true }` (routes that show device locations, device ids with their problems,
 * or hold a connection open). Unprotected routes stay open so that probes (`/healthz`, `/readyz`)
 * and Prometheus (`/metrics`) need no secret; each of them does a bounded amount of work, so the
 * rate limit bounds what one client can cost.
 *
 * The client is `req.ip`: the TCP peer, or with CITYPIPE_HTTP_TRUST_PROXY the address a trusted
 * proxy names in X-Forwarded-For (Fastify's trustProxy, set by `buildApp`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes } from '../errors/catalog.js';
import { addressKey, KeyedTokenBuckets } from '../security/token-bucket.js';
import type { TrustProxy } from './trust-proxy.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Needs the bearer token (CITYPIPE_HTTP_TOKEN). Implied for methods other than GET/HEAD/OPTIONS. */
    protected?: boolean;
    /**
     * `uplink`: needs CITYPIPE_UPLINK_TOKEN instead (a network server posting uplinks, CONTRACT §7).
     * `broker`: needs CITYPIPE_BROKER_AUTH_TOKEN (a broker cluster asking who a client is, CONTRACT §8).
     * A request with the right token is not counted against CITYPIPE_HTTP_RATE: one server posts
     * for a whole fleet.
     */
    bearer?: BearerKind;
    /**
     * A residents' route (CONTRACT §9: open data, the status page): public, answered from memory,
     * and counted against CITYPIPE_OPEN_RATE instead of CITYPIPE_HTTP_RATE.
     */
    residents?: boolean;
  }
}

/** The routes that take a token of their own instead of CITYPIPE_HTTP_TOKEN. */
export type BearerKind = 'uplink' | 'broker';

/** The setting that holds each kind's token, named in refusals. */
const BEARER_KEYS: Readonly<Record<BearerKind, string>> = { uplink: 'CITYPIPE_UPLINK_TOKEN', broker: 'CITYPIPE_BROKER_AUTH_TOKEN' };

/** How the HTTP API protects itself. */
export interface HttpSecurityOptions {
  /** The bearer token for protected routes; undefined = protected routes refuse every request. */
  token: string | undefined;
  /** The bearer token of the uplink routes (`bearer: 'uplink'`); undefined = they refuse every request. */
  uplinkToken?: string | undefined;
  /** The bearer token of the broker cluster's hooks (`bearer: 'broker'`); undefined = they refuse every request. */
  brokerAuthToken?: string | undefined;
  /** Requests per second per client address (bursts of 10 s); 0 = no limit. */
  ratePerS: number;
  /** The same for the residents' routes (`residents: true`); default `ratePerS`. */
  residentsRatePerS?: number | undefined;
  /** Which peers may name the client in X-Forwarded-For; default false (none). `buildApp` gives it to Fastify. */
  trustProxy?: TrustProxy | undefined;
  /** Counts refusals; must not throw. */
  events?: { refused(reason: HttpRefusal): void } | undefined;
}

/** Why the HTTP API refused a request; a metric label. */
export type HttpRefusal = 'rate' | 'unauthorized' | 'streams';

declare module 'fastify' {
  interface FastifyInstance {
    /** Counts a refusal a route made itself (e.g. the event stream's caps) in the refusal metric. */
    countRefusal(reason: HttpRefusal): void;
  }
}

/** Largest request body accepted (Fastify answers 413 above it). */
export const BODY_LIMIT_BYTES = 64 * 1024;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SWEEP_MS = 10_000;

/**
 * Headers for a JSON API that no browser should render, frame, cache or sniff (what @fastify/helmet
 * would set that applies to an API with no HTML).
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** Adds the hooks to `app`; call before routes are added. Its sweep timer stops with the app. */
export function registerHttpSecurity(app: FastifyInstance, opts: HttpSecurityOptions): void {
  const buckets = new KeyedTokenBuckets(opts.ratePerS);
  const residentsRate = opts.residentsRatePerS ?? opts.ratePerS;
  const residentBuckets = new KeyedTokenBuckets(residentsRate);
  const expected = opts.token === undefined ? undefined : digest(opts.token);
  const expectedOwn: Readonly<Record<BearerKind, Buffer | undefined>> = {
    uplink: opts.uplinkToken === undefined ? undefined : digest(opts.uplinkToken),
    broker: opts.brokerAuthToken === undefined ? undefined : digest(opts.brokerAuthToken),
  };
  const events = opts.events;
  app.decorate('countRefusal', (reason: HttpRefusal) => events?.refused(reason));

  let sweep: NodeJS.Timeout | undefined;
  if (buckets.enabled || residentBuckets.enabled) {
    sweep = setInterval(() => {
      buckets.sweep();
      residentBuckets.sweep();
    }, SWEEP_MS).unref();
  }
  app.addHook('onClose', async () => {
    if (sweep) clearInterval(sweep);
  });

  const unauthorized = (reply: FastifyReply, problem: string) => {
    events?.refused('unauthorized');
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="citypipe"')
      .send({ statusCode: 401, code: ErrorCodes.HTTP_UNAUTHORIZED.code, error: 'Unauthorized', message: problem });
  };

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const own = req.routeOptions.config?.bearer;
    const ownExpected = own === undefined ? undefined : expectedOwn[own];
    const ownProblem =
      own === undefined
        ? undefined
        : ownExpected === undefined
          ? `this endpoint is disabled: ${BEARER_KEYS[own]} is not set on the service`
          : checkBearer(req.headers.authorization, ownExpected, BEARER_KEYS[own]);
    if (own !== undefined && ownProblem === undefined) return;
    const key = clientKey(req);
    const residents = req.routeOptions.config?.residents === true;
    const bucket = residents ? residentBuckets : buckets;
    if (!bucket.take(key)) {
      events?.refused('rate');
      const retryAfterS = Math.max(1, Math.ceil(bucket.waitMs(key) / 1000));
      const setting = residents ? `CITYPIPE_OPEN_RATE (${residentsRate}` : `CITYPIPE_HTTP_RATE (${opts.ratePerS}`;
      // Behind a proxy that is not trusted, every client shares the proxy's bucket: say so.
      const hint = opts.trustProxy ? '' : req.headers['x-forwarded-for'] !== undefined ? '; behind a reverse proxy, set CITYPIPE_HTTP_TRUST_PROXY to its address so that clients are counted apart' : '';
      return reply
        .code(429)
        .header('retry-after', String(retryAfterS))
        .send({
          statusCode: 429,
          code: ErrorCodes.HTTP_RATE_LIMITED.code,
          error: 'Too Many Requests',
          message: `over ${setting} requests/s from one address); retry in ${retryAfterS} s${hint}`,
        });
    }
    if (ownProblem !== undefined) return unauthorized(reply, ownProblem);
    const isProtected = req.routeOptions.config?.protected ?? !SAFE_METHODS.has(req.method);
    if (!isProtected) return;
    const problem = expected === undefined ? 'this endpoint is disabled: CITYPIPE_HTTP_TOKEN is not set on the service' : checkBearer(req.headers.authorization, expected, 'CITYPIPE_HTTP_TOKEN');
    if (problem === undefined) return;
    return unauthorized(reply, problem);
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(name)) reply.header(name, value);
    return payload;
  });
}

/**
 * The key a client is counted under (rate limit, stream caps): its address as Fastify derived it,
 * IPv6 grouped by /64.
 */
export function clientKey(req: FastifyRequest): string {
  return addressKey(req.ip);
}

/** Undefined when `header` carries the expected token; otherwise what is wrong. */
function checkBearer(header: string | undefined, expected: Buffer, key: string): string | undefined {
  if (header === undefined) return `send \`Authorization: Bearer <${key}>\``;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) return 'the Authorization header must be `Bearer <token>`';
  // Hashing first gives both sides one length, so the comparison is constant-time for any input.
  return timingSafeEqual(digest(match[1]!), expected) ? undefined : 'wrong bearer token';
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
