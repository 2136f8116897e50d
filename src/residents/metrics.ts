/**
 * How residents use the open data and the status page, for the operator's Prometheus: answers by
 * route and status (200 sent, 304 revalidated, 503 no snapshot yet), and how old the snapshot being
 * served is. Labels are closed sets chosen here, never a client's path.
 */
import client from 'prom-client';
import type { RepresentationName } from './view.js';

/** What the residents' routes report; must not throw. */
export interface ResidentEvents {
  answered(route: RepresentationName, status: 200 | 304 | 503): void;
}

export class ResidentMetrics implements ResidentEvents {
  private readonly answers: client.Counter<'route' | 'status'>;

  /** `snapshotAt`: when the snapshot being served was made (epoch ms), undefined before the first. */
  constructor(registry: client.Registry, snapshotAt: () => number | undefined, now: () => number = Date.now) {
    const registers = [registry];
    this.answers = new client.Counter({
      name: 'citypipe_open_data_requests_total',
      help: 'Answers of the residents’ routes (GET /status, /open/v1/*), by route (status, status-still, parking.geojson, outages.geojson, parking.json) and status (200, 304 for a matching ETag, 503 before any snapshot could be made).',
      labelNames: ['route', 'status'],
      registers,
    });
    new client.Gauge({
      name: 'citypipe_open_data_snapshot_age_seconds',
      help: 'Age of the snapshot the residents’ routes serve (made again at most once a second after a change, at least every 10 s while asked for); absent before the first request.',
      registers,
      collect() {
        const at = snapshotAt();
        if (at === undefined) return;
        this.set(Math.max(0, (now() - at) / 1000));
      },
    });
  }

  answered(route: RepresentationName, status: 200 | 304 | 503): void {
    this.answers.labels(route, String(status)).inc();
  }
}
