/**
 * The HTTP API. `buildApp` never listens, so tests call `app.inject()`; the service calls listen.
 *
 * Every route does a bounded amount of work per request (pages have a capped `limit`, aggregates
 * over a table are computed at most once a second), so the per-address rate limit bounds what one
 * client can cost; the event stream is bounded by its own caps (event-stream.ts).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../observability/logger.js';
import type { DeadLetterQuery, DeadLetterRecord } from '../deadletter/store.js';
import { CitypipeError, DeadLetterReasons, ErrorCodes, NoticeCodes, type DeadLetterReason } from '../errors/catalog.js';
import type { ReplayResult } from '../pipeline/replay.js';
import type { StatsNow } from '../observability/service-stats.js';
import { registerDispatchApi, type DispatchApiDeps } from './dispatch-api.js';
import { registerUplinkRoutes, type UplinkRouteDeps } from './uplink-routes.js';
import { registerBrokerAuthRoutes, type BrokerAuthRouteDeps } from './broker-auth-routes.js';
import { registerResidentRoutes, type ResidentRouteDeps } from '../residents/routes.js';
import { BODY_LIMIT_BYTES, registerHttpSecurity, type HttpSecurityOptions } from './security.js';
import { trustsAnyPeer, type TrustProxy } from './trust-proxy.js';
import { atMostEvery } from './at-most-every.js';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/** What the HTTP layer reads from the running service. */
export interface AppDeps {
  log: Logger;
  /** Prometheus text exposition. */
  metricsText(): Promise<{ contentType: string; body: string }>;
  /** Reasons the service is not ready; empty when ready. */
  notReadyReasons(): string[];
  /** Counters and gauges (observability/service-stats.ts): cheap, read on every request. */
  stats(): StatsNow;
  /** Dead letters by reason: a count over the whole store, so `/api/stats` reads it at most once a second. */
  deadLettersByReason(): Record<string, number>;
  /** The worker's own store on a single node; the shared table in PostgreSQL with more than one. */
  deadLetters: { list(q: DeadLetterQuery): { items: DeadLetterRecord[]; total: number } | Promise<{ items: DeadLetterRecord[]; total: number }> };
  replayDeadLetters(q: { reason?: DeadLetterReason | undefined; limit?: number | undefined }): Promise<ReplayResult>;
  /** Rate limit, bearer token for protected routes, security headers (security.ts). */
  security: HttpSecurityOptions;
  /** The dispatch API (Open311, tickets, events, devices, the collection plan), registered after the core routes. */
  dispatch?: DispatchApiDeps | undefined;
  /** The network servers' uplink routes (uplink-routes.ts). */
  uplinks?: UplinkRouteDeps | undefined;
  /** A broker cluster's authentication and authorization hooks (broker-auth-routes.ts). */
  brokerAuth?: BrokerAuthRouteDeps | undefined;
  /** The residents' open data and status page (residents/routes.ts); absent = not served. */
  residents?: ResidentRouteDeps | undefined;
  /** More routes (tests), registered last. */
  routes?: ((app: FastifyInstance) => void) | undefined;
  /** The version shown in the OpenAPI description. */
  version?: string | undefined;
  /** Clock for the `/api/stats` aggregate's age; default `Date.now`. */
  now?: (() => number) | undefined;
}

/** How old `deadLettersByReason` in `/api/stats` may be: a count over the whole dead-letter store. */
export const STATS_AGGREGATE_MAX_AGE_MS = 1000;
/** The largest `limit` of one dead-letter replay request (the CLI replays in chunks far below it). */
export const MAX_REPLAY_LIMIT = 1_000_000;

const deadLetterSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    receivedAt: { type: 'string', format: 'date-time' },
    reason: { type: 'string', enum: [...DeadLetterReasons] },
    path: { type: 'string' },
    message: { type: 'string' },
    topic: { type: 'string' },
    deviceId: { type: ['string', 'null'] },
    type: { type: ['string', 'null'] },
    index: { type: ['integer', 'null'] },
    payload: { type: 'string' },
  },
  required: ['id', 'receivedAt', 'reason', 'path', 'message', 'topic', 'payload'],
} as const;

const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log.child({ stage: 'http' }) as FastifyBaseLogger,
    // One log line per request would drown the ones that matter; request counts belong in metrics.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // A client that sends its request slowly (slowloris) holds a socket for at most this long.
    requestTimeout: 30_000,
    // Who the client is (rate limit, stream caps): see trust-proxy.ts.
    trustProxy: fastifyTrustProxy(deps.security.trustProxy ?? false),
  });
  if (deps.security.trustProxy !== undefined && trustsAnyPeer(deps.security.trustProxy)) {
    deps.log.warn(
      { code: NoticeCodes.HTTP_TRUST_PROXY.code, trustProxy: deps.security.trustProxy },
      `CITYPIPE_HTTP_TRUST_PROXY=${String(deps.security.trustProxy)} believes X-Forwarded-For from any peer: a client that reaches the HTTP port without the proxy can choose the address it is rate-limited as. List the proxy's address instead (e.g. 127.0.0.1), or make the port reachable only through the proxy`,
    );
  }
  registerHttpSecurity(app, deps.security);
  registerOpenApi(app, deps.version ?? '0.0.0');
  // Routes go in a plugin registered after the OpenAPI one, so that it sees every route.
  app.register(async (app) => {
    registerRoutes(app, deps);
  });
  return app;
}

/** Listens; a port in use becomes PORT_IN_USE naming CITYPIPE_HTTP_PORT. */
export async function listenOn(app: FastifyInstance, host: string, port: number): Promise<void> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const message = `CITYPIPE_HTTP_PORT: port ${port} on ${host} is already in use. Stop what uses it or set CITYPIPE_HTTP_PORT to a free port.`;
    throw new CitypipeError(ErrorCodes.PORT_IN_USE, message, { cause: err });
  }
}

/** The OpenAPI description at /docs/json (and /docs/yaml), browsable at /docs. */
function registerOpenApi(app: FastifyInstance, version: string): void {
  app.register(swagger, {
    openapi: {
      info: {
        title: 'citypipe',
        version,
        description:
          'City sensor telemetry: ingest health, dead letters, devices, rule events, Open311 service requests and the waste collection plan. ' +
          'Routes marked with a lock need `Authorization: Bearer <CITYPIPE_HTTP_TOKEN>`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'CITYPIPE_HTTP_TOKEN' } } },
    },
    transform: ({ schema, url, route }) => {
      const method = Array.isArray(route.method) ? route.method[0] : route.method;
      const isProtected = (route.config as { protected?: boolean } | undefined)?.protected ?? !['GET', 'HEAD', 'OPTIONS'].includes(String(method));
      return { schema: isProtected ? { ...schema, security: [{ bearer: [] }] } : schema, url };
    },
  });
  app.register(swaggerUi, { routePrefix: '/docs' });
}

function registerRoutes(app: FastifyInstance, deps: AppDeps): void {
  const byReason = atMostEvery(STATS_AGGREGATE_MAX_AGE_MS, () => deps.deadLettersByReason(), deps.now ?? Date.now);

  app.get('/healthz', { schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    {
      schema: {
        response: {
          200: { type: 'object', properties: { status: { type: 'string' } } },
          503: { type: 'object', properties: { status: { type: 'string' }, reasons: { type: 'array', items: { type: 'string' } } } },
        },
      },
    },
    async (_req, reply) => {
      const reasons = deps.notReadyReasons();
      if (reasons.length) return reply.code(503).send({ status: 'not ready', reasons });
      return { status: 'ready' };
    },
  );

  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text exposition format)', response: { 200: { type: 'string', description: 'Prometheus text format 0.0.4' } } } }, async (_req, reply) => {
    const { contentType, body } = await deps.metricsText();
    return reply.type(contentType).send(body);
  });

  app.get(
    '/api/stats',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: {
              received: { type: 'integer', description: 'readings accepted since start, recovered ones included' },
              recovered: { type: 'integer', description: 'readings found in the spool at start' },
              written: { type: 'integer' },
              deadLettered: { type: 'integer' },
              pending: { type: 'integer', description: 'readings in the spool not yet written or dead-lettered' },
              refused: { type: 'integer', description: 'publishes refused before acceptance (spool full)' },
              oldestPendingAgeS: { type: 'number', description: 'age of the oldest pending reading, seconds' },
              spoolBytes: { type: 'integer' },
              connectedDevices: { type: 'integer', description: 'distinct catalog devices with an authenticated MQTT connection now' },
              mqttConnections: { type: 'integer', description: 'open MQTT connections now (devices, accounts, lab-mode anonymous clients)' },
              deadLettersByReason: { type: 'object', additionalProperties: { type: 'integer' } },
            },
            required: ['received', 'recovered', 'written', 'deadLettered', 'pending', 'refused', 'connectedDevices', 'mqttConnections'],
          },
        },
      },
    },
    async () => ({ ...deps.stats(), deadLettersByReason: byReason() }),
  );

  app.get<{ Querystring: { reason?: (typeof DeadLetterReasons)[number]; device_id?: string; type?: string; before?: number; limit?: number } }>(
    '/api/dead-letters',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            reason: { type: 'string', enum: [...DeadLetterReasons] },
            device_id: { type: 'string', maxLength: 64 },
            type: { type: 'string', maxLength: 64 },
            before: { type: 'integer', minimum: 1, description: 'only dead letters with an id below this (paging)' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              total: { type: 'integer' },
              items: { type: 'array', items: deadLetterSchema },
              next: { type: ['string', 'null'] },
            },
            required: ['total', 'items'],
          },
          400: errorSchema,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const { items, total } = await deps.deadLetters.list({ reason: q.reason, deviceId: q.device_id, type: q.type, beforeId: q.before, limit: q.limit });
      const last = items.at(-1);
      const limit = q.limit ?? 100;
      let next: string | null = null;
      if (last && items.length === limit) {
        const params = new URLSearchParams();
        for (const [k, v] of Object.entries(q)) if (v !== undefined && k !== 'before') params.set(k, String(v));
        params.set('before', String(last.id));
        next = `/api/dead-letters?${params.toString()}`;
      }
      return { total, items: items.map((d) => ({ ...d, receivedAt: new Date(d.receivedAt).toISOString() })), next };
    },
  );

  app.post<{ Body: { reason?: DeadLetterReason; limit?: number } | undefined }>(
    '/api/dead-letters/replay',
    {
      // Changes state: needs the bearer token (also implied by POST; said here for the reader).
      config: { protected: true },
      schema: {
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            reason: { type: 'string', enum: [...DeadLetterReasons] },
            limit: { type: 'integer', minimum: 1, maximum: MAX_REPLAY_LIMIT },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              replayed: { type: 'integer' },
              skipped: { type: 'array', items: { type: 'object', properties: { id: { type: 'integer' }, why: { type: 'string' } } } },
              stoppedBecause: { type: 'string' },
            },
            required: ['replayed', 'skipped'],
          },
          400: errorSchema,
          401: errorSchema,
        },
      },
    },
    async (req) => deps.replayDeadLetters({ reason: req.body?.reason, limit: req.body?.limit }),
  );

  if (deps.dispatch) registerDispatchApi(app, deps.dispatch);
  if (deps.uplinks) registerUplinkRoutes(app, deps.uplinks);
  if (deps.brokerAuth) registerBrokerAuthRoutes(app, deps.brokerAuth);
  if (deps.residents) registerResidentRoutes(app, deps.residents);
  deps.routes?.(app);
}

/** The setting as Fastify's option: a hop count becomes the function Fastify itself would make of it. */
function fastifyTrustProxy(value: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value === 'number') return (_address, hop) => hop < value;
  return typeof value === 'boolean' ? value : [...value];
}
