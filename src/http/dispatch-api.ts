/**
 * The dispatch half's HTTP API in one step: Open311 and the event log (dispatch-routes.ts), devices
 * (device-routes.ts), the collection plan (collection/routes.ts) and parking zones (parking/routes.ts). `buildApp` registers it when
 * given these deps (the service's dispatch wiring supplies them).
 */
import type { FastifyInstance } from 'fastify';
import { registerCollectionRoutes, type CollectionRoutesDeps } from '../collection/routes.js';
import { registerParkingRoutes, type ParkingRoutesDeps } from '../parking/routes.js';
import { registerDeviceRoutes, type DeviceRouteDeps } from './device-routes.js';
import { registerDispatchRoutes, type DispatchRouteDeps } from './dispatch-routes.js';

export interface DispatchApiDeps {
  dispatch: DispatchRouteDeps;
  devices: DeviceRouteDeps;
  collection: CollectionRoutesDeps;
  parking: ParkingRoutesDeps;
}

export function registerDispatchApi(app: FastifyInstance, deps: DispatchApiDeps): void {
  registerDispatchRoutes(app, deps.dispatch);
  registerDeviceRoutes(app, deps.devices);
  registerCollectionRoutes(app, deps.collection);
  registerParkingRoutes(app, deps.parking);
}
