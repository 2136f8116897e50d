/**
 * `GET /api/collection-plan`: the latest collection plan. Protected (bearer token): it shows where
 * every nearly full bin stands. The planner is a port (`PlanAccess`): `CollectionPlanner` answers
 * now, a cluster's shared plan later; a shared database that fails answers 503 with Retry-After.
 */
import type { FastifyInstance } from 'fastify';
import type { PlanAccess } from '../http/dispatch-ports.js';
import { STORE_UNAVAILABLE_DESCRIPTION, StoreAnswers } from '../http/store-unavailable.js';
import type { Logger } from '../observability/logger.js';
import { planForDistrict } from './plan.js';

/** What the route reads. */
export interface CollectionRoutesDeps {
  /** `CollectionPlanner`, or the cluster's shared plan. */
  readonly planner: PlanAccess;
  /** The planner's clock (plans are stamped with it). */
  readonly now?: (() => number) | undefined;
}

/**
 * `refresh=true` makes a new plan (a pass over every bin's history and a route per district) at most
 * this often; asked sooner, it answers the plan just made.
 */
export const PLAN_REFRESH_MIN_MS = 10_000;

const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

const stopSchema = {
  type: 'object',
  properties: {
    order: { type: 'integer', minimum: 1, description: 'position on the district route' },
    deviceId: { type: 'string' },
    lat: { type: 'number' },
    long: { type: 'number' },
    address: { type: 'string' },
    fillingLevel: { type: 'number', description: 'current level, 0..1' },
    fillRatePerHour: { type: ['number', 'null'], description: 'fitted fill rate, ratio per hour' },
    predictedFullAt: { type: 'string', format: 'date-time' },
    hoursToFull: { type: 'number', description: '0 = over its threshold already' },
    threshold: { type: 'number', description: 'the threshold of its collection rule (waste.collect by default)' },
    lastReadingAt: { type: 'string', format: 'date-time' },
  },
  required: ['order', 'deviceId', 'lat', 'long', 'fillingLevel', 'fillRatePerHour', 'predictedFullAt', 'hoursToFull', 'threshold', 'lastReadingAt'],
} as const;

const planSchema = {
  type: 'object',
  properties: {
    generatedAt: { type: 'string', format: 'date-time' },
    horizonHours: { type: 'number' },
    districts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          district: { type: 'string' },
          stops: { type: 'array', items: stopSchema },
          distanceKm: { type: 'number' },
        },
        required: ['district', 'stops', 'distanceKm'],
      },
    },
    summary: {
      type: 'object',
      properties: {
        bins: { type: 'integer' },
        planned: { type: 'integer' },
        due: { type: 'integer' },
        later: { type: 'integer' },
        noPrediction: { type: 'integer' },
        noRecentData: { type: 'integer' },
        noThreshold: { type: 'integer' },
      },
    },
  },
  required: ['generatedAt', 'horizonHours', 'districts'],
} as const;

/** Adds `GET /api/collection-plan` to `app` (after `registerHttpSecurity`, so the token is checked). */
export function registerCollectionRoutes(app: FastifyInstance, deps: CollectionRoutesDeps): void {
  const store = new StoreAnswers(app.log as Logger);
  app.get<{ Querystring: { refresh?: boolean; district?: string } }>(
    '/api/collection-plan',
    {
      // Shows the location of every bin on the plan.
      config: { protected: true },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            refresh: { type: 'boolean', default: false, description: 'compute a new plan now instead of returning the latest' },
            district: { type: 'string', minLength: 1, maxLength: 128, description: 'only this district' },
          },
        },
        response: {
          200: planSchema,
          400: errorSchema,
          401: errorSchema,
          503: { ...errorSchema, description: STORE_UNAVAILABLE_DESCRIPTION },
        },
      },
    },
    async (req) => {
      const latest = await store.read(deps.planner.latest());
      const recent = latest !== undefined && (deps.now ?? Date.now)() - Date.parse(latest.generatedAt) < PLAN_REFRESH_MIN_MS;
      // No plan yet (the service started after today's run): make one rather than answer empty.
      const plan = latest === undefined || (req.query.refresh === true && !recent) ? await store.read(deps.planner.generate()) : latest;
      return req.query.district === undefined ? plan : planForDistrict(plan, req.query.district);
    },
  );
}
