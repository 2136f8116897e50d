/**
 * Devices as operators ask about them: the catalog with each device's health (ok, alert, offline,
 * unknown), one device with its latest values, districts at a glance, and the latest reading of every
 * device. Every route shows locations, so every route needs the bearer token.
 *
 * Answers are bounded: lists are pages of at most `MAX_PAGE` (with `total` and `offset`), and a
 * summary object is built for the page only. Each request still reads the raised alerts and the open
 * tickets once (an answer must show a ticket opened a moment ago) and passes over the catalog in
 * memory: work that grows with the city's fleet, not with what a client asks for.
 *
 * Device state is a port (`DeviceStateAccess`, dispatch-ports.ts): read once per request, now from
 * memory and SQLite or later from a cluster's shared database; a shared database that fails answers
 * 503 with Retry-After.
 */
import type { FastifyInstance } from 'fastify';
// Route schemas carry OpenAPI tags and summaries (types from @fastify/swagger).
import type {} from '@fastify/swagger';
import type { DeviceRecord } from '../catalog/types.js';
import { deviceTypeNames } from '../device-types/registry.js';
import type { ActiveAlert } from '../dispatch/types.js';
import type { LatestReading } from '../devices/latest-readings.js';
import { deviceState, type DeviceState } from '../devices/device-state.js';
import type { DeviceStateAccess, LatestLookup } from './dispatch-ports.js';
import type { Logger } from '../observability/logger.js';
import { STORE_UNAVAILABLE_DESCRIPTION, StoreAnswers } from './store-unavailable.js';

const STATES: readonly DeviceState[] = ['ok', 'alert', 'offline', 'unknown'];
/** The largest page of `/api/devices` and `/api/readings/latest`. */
export const MAX_PAGE = 1000;

/** The catalog, and each device's state (latest reading, raised alerts, open tickets). */
export interface DeviceRouteDeps extends DeviceStateAccess {
  devices(): readonly DeviceRecord[];
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

const fieldsSchema = { type: 'object', additionalProperties: { type: ['number', 'string'] } } as const;
const deviceSummarySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    type: { type: 'string', enum: [...deviceTypeNames] },
    district: { type: 'string' },
    lat: { type: 'number' },
    lon: { type: 'number' },
    address: { type: ['string', 'null'] },
    reportingIntervalS: { type: 'integer' },
    revoked: { type: 'boolean' },
    state: { type: 'string', enum: [...STATES] },
    lastSeen: { type: ['string', 'null'], format: 'date-time', description: 'Device time of its latest reading' },
    alerts: { type: 'array', items: { type: 'string' }, description: 'Rules raised for it now' },
    openTickets: { type: 'array', items: { type: 'string' }, description: 'service_request_id of its open tickets' },
  },
  required: ['id', 'type', 'district', 'lat', 'lon', 'state', 'lastSeen', 'alerts', 'openTickets'],
} as const;
const latestSchema = {
  type: 'object',
  properties: {
    deviceId: { type: 'string' },
    type: { type: 'string' },
    district: { type: 'string' },
    time: { type: 'string', format: 'date-time', description: 'Device time of the reading' },
    receivedAt: { type: 'string', format: 'date-time' },
    fields: fieldsSchema,
  },
  required: ['deviceId', 'type', 'time', 'receivedAt', 'fields'],
} as const;
const errorSchema = { type: 'object', properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } } } as const;
const unavailableSchema = { ...errorSchema, description: STORE_UNAVAILABLE_DESCRIPTION } as const;

interface ListQuery {
  district?: string;
  type?: string;
  state?: DeviceState;
  limit?: number;
  offset?: number;
}

export function registerDeviceRoutes(app: FastifyInstance, deps: DeviceRouteDeps): void {
  const store = new StoreAnswers(app.log as Logger);
  const summary = (d: DeviceRecord, latestOf: LatestLookup, alerts: ReadonlyMap<string, readonly ActiveAlert[]>, tickets: ReadonlyMap<string, readonly string[]>) => {
    const latest = latestOf.get(d.id);
    const raised = alerts.get(d.id);
    return {
      id: d.id,
      type: d.type,
      district: d.district,
      lat: d.location.lat,
      lon: d.location.lon,
      address: d.address ?? null,
      reportingIntervalS: d.reportingIntervalS,
      revoked: d.revokedAt !== undefined,
      state: deviceState(raised, latest),
      lastSeen: iso(latest?.timeMs),
      alerts: (raised ?? []).map((a) => a.rule),
      openTickets: [...(tickets.get(d.id) ?? [])],
    };
  };

  app.get<{ Querystring: ListQuery }>(
    '/api/devices',
    {
      config: { protected: true },
      schema: {
        tags: ['devices'],
        summary: 'Devices of the catalog with their health, filtered by district, type or state',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            district: { type: 'string' },
            type: { type: 'string', enum: [...deviceTypeNames] },
            state: { type: 'string', enum: [...STATES] },
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: MAX_PAGE },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
        },
        response: {
          200: { type: 'object', properties: { total: { type: 'integer' }, items: { type: 'array', items: deviceSummarySchema } }, required: ['total', 'items'] },
          503: unavailableSchema,
        },
      },
    },
    async (req) => {
      const { district, type, state, limit = MAX_PAGE, offset = 0 } = req.query;
      const [latest, alerts, tickets] = await Promise.all([store.read(deps.latest()), store.read(deps.alerts()), store.read(deps.openTickets())]);
      // The state costs two map lookups; the summary (a new object per device) only for the page.
      const matching = deps
        .devices()
        .filter((d) => (district === undefined || d.district === district) && (type === undefined || d.type === type))
        .filter((d) => state === undefined || deviceState(alerts.get(d.id), latest.get(d.id)) === state);
      return { total: matching.length, items: matching.slice(offset, offset + limit).map((d) => summary(d, latest, alerts, tickets)) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/devices/:id',
    {
      config: { protected: true },
      schema: {
        tags: ['devices'],
        summary: 'One device: catalog entry, health, raised alerts, open tickets and its latest values',
        params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        response: {
          200: {
            type: 'object',
            properties: {
              ...deviceSummarySchema.properties,
              attributes: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
              latest: { anyOf: [latestSchema, { type: 'null' }] },
              alertDetails: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { rule: { type: 'string' }, since: { type: 'string', format: 'date-time' }, value: { type: ['number', 'string', 'null'] }, flapping: { type: 'boolean' } },
                },
              },
            },
          },
          404: errorSchema,
          503: unavailableSchema,
        },
      },
    },
    async (req, reply) => {
      const d = deps.devices().find((x) => x.id === req.params.id);
      if (!d) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `device "${req.params.id}" is not in the catalog` });
      const [latestOf, alerts, tickets] = await Promise.all([store.read(deps.latest([d.id])), store.read(deps.alerts()), store.read(deps.openTickets())]);
      const latest = latestOf.get(d.id);
      return {
        ...summary(d, latestOf, alerts, tickets),
        attributes: d.attributes,
        latest: latest ? latestView(latest, d.district) : null,
        alertDetails: (alerts.get(d.id) ?? []).map((a) => ({ rule: a.rule, since: iso(a.since), value: a.value ?? null, flapping: a.flapping })),
      };
    },
  );

  app.get(
    '/api/districts',
    {
      config: { protected: true },
      schema: {
        tags: ['devices'],
        summary: 'Every district: devices per type and per state',
        response: {
          200: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                district: { type: 'string' },
                devices: { type: 'integer' },
                byType: { type: 'object', additionalProperties: { type: 'integer' } },
                byState: { type: 'object', additionalProperties: { type: 'integer' } },
              },
            },
          },
          503: unavailableSchema,
        },
      },
    },
    async () => {
      const [latest, alerts] = await Promise.all([store.read(deps.latest()), store.read(deps.alerts())]);
      const out = new Map<string, { district: string; devices: number; byType: Record<string, number>; byState: Record<string, number> }>();
      for (const d of deps.devices()) {
        let row = out.get(d.district);
        if (!row) out.set(d.district, (row = { district: d.district, devices: 0, byType: {}, byState: {} }));
        const state = deviceState(alerts.get(d.id), latest.get(d.id));
        row.devices++;
        row.byType[d.type] = (row.byType[d.type] ?? 0) + 1;
        row.byState[state] = (row.byState[state] ?? 0) + 1;
      }
      return [...out.values()].sort((a, b) => a.district.localeCompare(b.district));
    },
  );

  app.get<{ Querystring: { district?: string; type?: string; limit?: number; offset?: number } }>(
    '/api/readings/latest',
    {
      config: { protected: true },
      schema: {
        tags: ['devices'],
        summary: 'The latest reading of every device that has reported, by district or type',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            district: { type: 'string' },
            type: { type: 'string', enum: [...deviceTypeNames] },
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: MAX_PAGE },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { total: { type: 'integer', description: 'devices with a reading that match, over all pages' }, items: { type: 'array', items: latestSchema } },
            required: ['total', 'items'],
          },
          503: unavailableSchema,
        },
      },
    },
    async (req) => {
      const { district, type, limit = MAX_PAGE, offset = 0 } = req.query;
      const latestOf = await store.read(deps.latest());
      const matching: { d: DeviceRecord; latest: LatestReading }[] = [];
      for (const d of deps.devices()) {
        if ((district !== undefined && d.district !== district) || (type !== undefined && d.type !== type)) continue;
        const latest = latestOf.get(d.id);
        if (latest) matching.push({ d, latest });
      }
      return { total: matching.length, items: matching.slice(offset, offset + limit).map(({ d, latest }) => latestView(latest, d.district)) };
    },
  );
}

function latestView(l: LatestReading, district: string) {
  return { deviceId: l.deviceId, type: l.type, district, time: new Date(l.timeMs).toISOString(), receivedAt: new Date(l.receivedAt).toISOString(), fields: l.fields };
}
