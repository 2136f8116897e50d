/**
 * The dispatch HTTP API: Open311 GeoReport v2 (services and service requests, JSON only), manual
 * ticket close, the rule-event log and its live server-sent-event stream (event-stream.ts). See
 * docs/DISPATCH-API.md.
 *
 * Protection follows security.ts: Open311 requests show device locations, and the events (listed or
 * streamed) name devices and their problems, so they need the bearer token (`config: { protected:
 * true }`); the service list is open; PATCH needs the token because it changes state. Every answer
 * is bounded: `requests.json` at GeoReport's 1000, `/api/events` at 1000 events and a bounded scan
 * of the log per request (`EventLog.scan`), so a filter that matches little costs no table scan.
 *
 * The stores are ports (dispatch-ports.ts): SQLite's answer now, PostgreSQL's later. A shared store
 * that fails answers 503 with Retry-After (store-unavailable.ts), in GeoReport's shape under
 * `/open311/v2/`.
 *
 * Errors under `/open311/v2/` use GeoReport's `[{ code, description }]` shape (except 401 and 429,
 * which the security hooks answer before any route runs); `/api/…` errors use Fastify's shape.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from '../observability/logger.js';
import type { ServiceDefinition } from '../dispatch/rules/rule-book.js';
import type { EventHub } from '../events/event-hub.js';
import { toOpen311 } from '../tickets/open311-view.js';
import type { EventAccess, TicketAccess } from './dispatch-ports.js';
import { eventFilterProps, filterOf, registerEventStream, toApiEvent, type EventFilterQuery, type EventStreamOptions } from './event-stream.js';
import { STORE_UNAVAILABLE_DESCRIPTION, StoreAnswers, StoreUnavailableError } from './store-unavailable.js';

export { toApiEvent } from './event-stream.js';

/** What the dispatch routes read and change. */
export interface DispatchRouteDeps {
  /** `TicketStore`, or the cluster's shared tickets. */
  tickets: TicketAccess;
  /** `EventLog`, or the cluster's shared log. */
  events: EventAccess;
  hub: EventHub;
  /** Open311 services of the ticket rules (`RulesStage.services()`). */
  services(): readonly ServiceDefinition[];
  /** The event stream: timing, caps on open streams, replay page size (event-stream.ts). */
  stream?: EventStreamOptions | undefined;
  /** Clock for the default 90-day window of `requests.json`; default `Date.now`. */
  now?: (() => number) | undefined;
}

/** GeoReport v2's default window when neither `start_date` nor `end_date` is given. */
export const DEFAULT_WINDOW_MS = 90 * 24 * 3600 * 1000;
/** GeoReport v2's cap on one `requests.json` answer. */
export const MAX_REQUESTS = 1000;
const DAY_MS = 24 * 3600 * 1000;

const geoErrorSchema = {
  type: 'array',
  items: { type: 'object', properties: { code: { type: 'integer' }, description: { type: 'string' } }, required: ['code', 'description'] },
} as const;

const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;
const geoUnavailableSchema = { ...geoErrorSchema, description: STORE_UNAVAILABLE_DESCRIPTION } as const;
const unavailableSchema = { ...errorSchema, description: STORE_UNAVAILABLE_DESCRIPTION } as const;

const nullable = (type: 'string' | 'number' | 'integer' | 'boolean') => ({ type: [type, 'null'] }) as const;

const requestSchema = {
  type: 'object',
  properties: {
    service_request_id: { type: 'string' },
    status: { type: 'string', enum: ['open', 'closed'] },
    status_notes: nullable('string'),
    service_code: { type: 'string' },
    service_name: { type: 'string' },
    description: { type: 'string' },
    requested_datetime: { type: 'string', format: 'date-time' },
    updated_datetime: { type: 'string', format: 'date-time' },
    lat: nullable('number'),
    long: nullable('number'),
    address: nullable('string'),
    device_id: { type: 'string', description: 'citypipe extension: the device the request is about' },
    rule: { type: 'string', description: 'citypipe extension: the rule that opened it' },
  },
  required: ['service_request_id', 'status', 'service_code', 'service_name', 'requested_datetime', 'updated_datetime', 'device_id', 'rule'],
} as const;

const serviceSchema = {
  type: 'object',
  properties: {
    service_code: { type: 'string' },
    service_name: { type: 'string' },
    description: { type: 'string' },
    metadata: { type: 'boolean' },
    type: { type: 'string', enum: ['realtime', 'batch', 'blackbox'] },
    keywords: { type: 'string' },
    group: { type: 'string' },
  },
  required: ['service_code', 'service_name', 'metadata', 'type'],
} as const;

const eventSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer', description: 'log id; the SSE `id:`' },
    at: { type: 'string', format: 'date-time', description: 'device time of the reading that decided the event' },
    rule: { type: 'string' },
    serviceCode: nullable('string'),
    deviceId: { type: 'string' },
    district: { type: 'string' },
    type: { type: 'string' },
    severity: { type: 'string', enum: ['info', 'warning', 'urgent'] },
    state: { type: 'string', enum: ['raised', 'cleared'] },
    value: { type: ['number', 'string', 'null'] },
    message: { type: 'string' },
    late: { type: 'boolean' },
    flapping: nullable('boolean'),
    ticketId: nullable('string'),
    transition: { type: ['string', 'null'], enum: ['opened', 'updated', 'closed', null] },
  },
  required: ['id', 'at', 'rule', 'deviceId', 'district', 'type', 'severity', 'state', 'message', 'late'],
} as const;

const jurisdiction = { jurisdiction_id: { type: 'string', maxLength: 128, description: 'accepted and ignored: citypipe serves one jurisdiction' } } as const;

/** Adds the dispatch routes to `app` (after `registerHttpSecurity`). */
export function registerDispatchRoutes(app: FastifyInstance, deps: DispatchRouteDeps): void {
  const now = deps.now ?? Date.now;
  const store = new StoreAnswers(app.log as Logger);

  app.register(async (open311) => {
    open311.setErrorHandler((err: FastifyError, req, reply) => {
      if (err.validation) return reply.code(400).send([{ code: 400, description: validationText(err) }]);
      if (err instanceof StoreUnavailableError) return reply.code(503).headers(err.headers).send([{ code: 503, description: err.message }]);
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) req.log.error({ err, code: 'CP_ERR_HTTP_INTERNAL' }, 'open311 request failed');
      return reply.code(status).send([{ code: status, description: status === 500 ? 'internal error; see the service log' : err.message }]);
    });

    open311.get(
      '/open311/v2/services.json',
      {
        schema: {
          querystring: { type: 'object', additionalProperties: false, properties: { ...jurisdiction } },
          response: { 200: { type: 'array', items: serviceSchema }, 400: geoErrorSchema },
        },
      },
      async () =>
        deps.services().map((s) => ({
          service_code: s.serviceCode,
          service_name: s.serviceName,
          description: s.description ?? s.serviceName,
          metadata: false,
          type: 'realtime',
          keywords: s.rules.join(','),
          group: groupOf(s.serviceCode),
        })),
    );

    open311.get<{
      Querystring: { status?: 'open' | 'closed'; service_code?: string; start_date?: string; end_date?: string; service_request_id?: string; device_id?: string };
    }>(
      '/open311/v2/requests.json',
      {
        config: { protected: true },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              ...jurisdiction,
              status: { type: 'string', enum: ['open', 'closed'] },
              service_code: { type: 'string', maxLength: 2000, description: 'one or more service codes, comma-separated' },
              start_date: { type: 'string', maxLength: 64, description: 'ISO 8601: requested_datetime at or after' },
              end_date: { type: 'string', maxLength: 64, description: 'ISO 8601: requested_datetime at or before (a bare date: through that day)' },
              service_request_id: { type: 'string', maxLength: 2000, description: 'one or more ids, comma-separated; overrides every other filter' },
              device_id: { type: 'string', maxLength: 64, description: 'citypipe extension' },
            },
          },
          response: { 200: { type: 'array', items: requestSchema }, 400: geoErrorSchema, 401: errorSchema, 503: geoUnavailableSchema },
        },
      },
      async (req, reply) => {
        const q = req.query;
        if (q.service_request_id !== undefined) {
          const ids = splitList(q.service_request_id);
          return (await store.read(deps.tickets.list({ ids, limit: MAX_REQUESTS }))).map(toOpen311);
        }
        const start = q.start_date === undefined ? undefined : parseIsoDate(q.start_date, 'start');
        if (start === null) return reply.code(400).send([{ code: 400, description: badDate('start_date', q.start_date) }]);
        const end = q.end_date === undefined ? undefined : parseIsoDate(q.end_date, 'end');
        if (end === null) return reply.code(400).send([{ code: 400, description: badDate('end_date', q.end_date) }]);
        if (start !== undefined && end !== undefined && end < start) {
          return reply.code(400).send([{ code: 400, description: `end_date (${q.end_date}) is before start_date (${q.start_date})` }]);
        }
        const window = start === undefined && end === undefined ? now() - DEFAULT_WINDOW_MS : undefined;
        const serviceCodes = q.service_code === undefined ? undefined : splitList(q.service_code);
        const list = await store.read(deps.tickets.list({ status: q.status, serviceCodes, start: start ?? window, end, deviceId: q.device_id, limit: MAX_REQUESTS }));
        return list.map(toOpen311);
      },
    );

    open311.get<{ Params: { id: string } }>(
      '/open311/v2/requests/:id.json',
      {
        config: { protected: true },
        schema: {
          params: { type: 'object', properties: { id: { type: 'string', maxLength: 32 } }, required: ['id'] },
          querystring: { type: 'object', additionalProperties: false, properties: { ...jurisdiction } },
          response: {
            200: { type: 'array', items: requestSchema, minItems: 1, maxItems: 1 },
            400: geoErrorSchema,
            401: errorSchema,
            404: geoErrorSchema,
            503: geoUnavailableSchema,
          },
        },
      },
      async (req, reply) => {
        const t = await store.read(deps.tickets.get(req.params.id));
        if (!t) return reply.code(404).send([{ code: 404, description: `no service request with service_request_id "${req.params.id}"` }]);
        return [toOpen311(t)];
      },
    );
  });

  app.patch<{ Params: { id: string }; Body: { status: 'closed'; status_notes?: string } }>(
    '/api/tickets/:id',
    {
      // Changes state: needs the bearer token (also implied by PATCH; said here for the reader).
      config: { protected: true },
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 32 } }, required: ['id'] },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['status'],
          properties: {
            status: { type: 'string', enum: ['closed'], description: 'the only change the API makes: a manual close' },
            status_notes: { type: 'string', maxLength: 2000, description: 'why; default "Closed by api"' },
          },
        },
        response: { 200: requestSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema, 503: unavailableSchema },
      },
    },
    async (req, reply) => {
      const r = await store.read(deps.tickets.close(req.params.id, req.body.status_notes, 'api'));
      if (r.ok) return toOpen311(r.ticket);
      if (r.reason === 'not_found') return reply.code(404).send({ statusCode: 404, code: 'CP_ERR_TICKET_NOT_FOUND', error: 'Not Found', message: r.message });
      return reply.code(409).send({ statusCode: 409, code: 'CP_ERR_TICKET_CLOSED', error: 'Conflict', message: r.message });
    },
  );

  app.get<{ Querystring: EventFilterQuery & { since?: string; until?: string; after_id?: number; limit?: number } }>(
    '/api/events',
    {
      // Device ids and their problems: token holders only.
      config: { protected: true },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...eventFilterProps,
            since: { type: 'string', maxLength: 64, description: 'ISO 8601: events at or after' },
            until: { type: 'string', maxLength: 64, description: 'ISO 8601: events before' },
            after_id: { type: 'integer', minimum: 0, description: 'only events with a log id above this (paging, oldest first)' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              items: { type: 'array', items: eventSchema },
              next: { type: ['string', 'null'], description: 'the next page while there is more log to look at (a page may hold fewer than `limit` events); null at the end' },
            },
            required: ['items', 'next'],
          },
          400: errorSchema,
          401: errorSchema,
          503: unavailableSchema,
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const since = q.since === undefined ? undefined : parseIsoDate(q.since, 'start');
      const until = q.until === undefined ? undefined : parseIsoDate(q.until, 'start');
      if (since === null || until === null) {
        const message = since === null ? badDate('since', q.since) : badDate('until', q.until);
        return reply.code(400).send({ statusCode: 400, code: 'FST_ERR_VALIDATION', error: 'Bad Request', message });
      }
      const limit = q.limit ?? 100;
      const step = await store.read(deps.events.scan({ ...filterOf(q), since, until, afterId: q.after_id, limit }));
      let next: string | null = null;
      if (step.next !== undefined) {
        const params = new URLSearchParams();
        for (const [k, v] of Object.entries(q)) if (v !== undefined && k !== 'after_id') params.set(k, String(v));
        params.set('after_id', String(step.next));
        next = `/api/events?${params.toString()}`;
      }
      return { items: step.events.map(toApiEvent), next };
    },
  );

  registerEventStream(app, { events: deps.events, hub: deps.hub, stream: deps.stream });
}

function splitList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

/** `waste.collect` → `waste`. */
function groupOf(serviceCode: string): string {
  const dot = serviceCode.indexOf('.');
  return dot > 0 ? serviceCode.slice(0, dot) : serviceCode;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * Epoch ms of an ISO 8601 date-time with a time zone (the w3 subset GeoReport uses), or of a bare
 * date (UTC; as an `end`, through the end of that day). Null when it is neither.
 */
export function parseIsoDate(s: string, as: 'start' | 'end'): number | null {
  const date = ISO_DATE.exec(s);
  if (date) {
    const ms = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
    // Date.UTC rolls 2026-02-31 over into March; a round trip catches it.
    if (new Date(ms).toISOString().slice(0, 10) !== s) return null;
    return as === 'end' ? ms + DAY_MS - 1 : ms;
  }
  if (!ISO_DATE_TIME.test(s)) return null;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? null : ms;
}

function badDate(param: string, value: string | undefined): string {
  return `${param}: not an ISO 8601 date-time with a time zone, got "${value ?? ''}" (e.g. 2026-11-28T09:00:00Z, 2026-11-28T10:00:00+01:00 or 2026-11-28)`;
}

/** `start_date: must be string` from a Fastify validation error, naming the parameter. */
function validationText(err: FastifyError): string {
  const v = err.validation?.[0];
  if (!v) return err.message;
  const missing = (v.params as { missingProperty?: string } | undefined)?.missingProperty;
  const name = missing ?? v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const allowed = (v.params as { allowedValues?: unknown[] } | undefined)?.allowedValues;
  const detail = allowed ? `${v.message ?? 'is invalid'} (${allowed.join(', ')})` : (v.message ?? 'is invalid');
  return name ? `${name}: ${detail}` : `${err.validationContext ?? 'request'}: ${detail}`;
}
