/**
 * `GET /api/parking/zones`: every parking zone's availability now (zones.ts), from memory on a
 * single node, from the shared database in a cluster (`ZoneAccess`; one that fails answers 503 with
 * Retry-After). Counts only, no device ids or locations, so it needs no token.
 */
import type { FastifyInstance } from 'fastify';
import type { ZoneAccess } from '../http/dispatch-ports.js';
import { STORE_UNAVAILABLE_DESCRIPTION, StoreAnswers } from '../http/store-unavailable.js';
import type { Logger } from '../observability/logger.js';

export type ParkingRoutesDeps = ZoneAccess;

const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

export function registerParkingRoutes(app: FastifyInstance, deps: ParkingRoutesDeps): void {
  const store = new StoreAnswers(app.log as Logger);
  app.get(
    '/api/parking/zones',
    {
      schema: {
        summary: 'Availability of every parking zone: bays in the catalog, free, occupied, and unknown (offline or never heard from)',
        response: {
          200: {
            type: 'object',
            properties: {
              zones: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    zone: { type: 'string' },
                    district: { type: 'string' },
                    totalSpotNumber: { type: 'integer' },
                    availableSpotNumber: { type: 'integer' },
                    occupiedSpotNumber: { type: 'integer' },
                    unknownSpotNumber: { type: 'integer' },
                    changedAt: { type: 'string', format: 'date-time' },
                  },
                },
              },
            },
          },
          503: { ...errorSchema, description: STORE_UNAVAILABLE_DESCRIPTION },
        },
      },
    },
    async () => ({ zones: (await store.read(deps.zones())).map((z) => ({ ...z, changedAt: new Date(z.changedAt).toISOString() })) }),
  );
}
