/**
 * `GET /api/parking/zones`: every parking zone's availability now (zones.ts), from memory. Counts
 * only, no device ids or locations, so it needs no token.
 */
import type { FastifyInstance } from 'fastify';
import type { ZoneCounts } from './zones.js';

export interface ParkingRoutesDeps {
  zones(): ZoneCounts[];
}

export function registerParkingRoutes(app: FastifyInstance, deps: ParkingRoutesDeps): void {
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
        },
      },
    },
    async () => ({ zones: deps.zones().map((z) => ({ ...z, changedAt: new Date(z.changedAt).toISOString() })) }),
  );
}
