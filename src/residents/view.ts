/**
 * Keeps what residents see in memory and current: the snapshot (snapshot.ts) and the bodies made
 * from it, each with its ETag, so a request costs a map lookup and a header compare, never a query.
 * A body is made on its first request after a rebuild, not with the snapshot: each is one piece of
 * work on the event loop (milliseconds for thousands of places; bench phase `residents`), and a
 * feed nobody asks for costs nothing.
 *
 * A snapshot is made again on the next request once it may be out of date: the pipeline said
 * something changed (`touch()`: readings stored, a ticket opened or closed), a reading it used has
 * gone stale, or it is older than `maxAgeMs` (what changes on other workers of a cluster, or a
 * sweep, is seen within that). Never more than once per `minIntervalMs` however many requests
 * come, and one at a time: requests meanwhile wait for that one making. A source that fails keeps
 * the last snapshot served (logged once per failure run); with none yet, the request fails.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { ErrorCodes } from '../errors/catalog.js';
import { buildResidentSnapshot, type ResidentInput, type ResidentSnapshot } from './snapshot.js';
import { outagesGeoJson, parkingDatex, parkingGeoJson } from './feeds.js';
import { renderStatusPage } from './status-page.js';

/** Where a snapshot's inputs come from: the single node's stores, or a cluster's database. */
export interface ResidentSource {
  /** Everything but `now`, read once per snapshot. */
  read(): Promise<Omit<ResidentInput, 'now'>>;
}

/** One body as served. */
export interface Representation {
  readonly body: Buffer;
  /** Strong ETag, quoted. */
  readonly etag: string;
  readonly contentType: string;
}

export type RepresentationName = 'parking.geojson' | 'outages.geojson' | 'parking.json' | 'status' | 'status-still';

export interface ResidentViewOptions {
  source: ResidentSource;
  /** The status page's title and the DATEX publisher. */
  cityName: string;
  log: Logger;
  now?: () => number;
  /** Default 1000. */
  minIntervalMs?: number;
  /** Default 10 000. */
  maxAgeMs?: number;
  timeZone?: string | undefined;
}

interface Built {
  snapshot: ResidentSnapshot;
  /** Bodies made so far from this snapshot: each on its first request, so a rebuild costs the snapshot alone. */
  reps: Map<RepresentationName, Representation>;
}

export class ResidentView {
  private readonly opts: ResidentViewOptions;
  private readonly now: () => number;
  private readonly minIntervalMs: number;
  private readonly maxAgeMs: number;
  private built: Built | undefined;
  private making: Promise<Built> | undefined;
  private dirty = true;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private failing = false;
  /** Snapshots made, for tests and metrics. */
  builds = 0;

  constructor(opts: ResidentViewOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.minIntervalMs = opts.minIntervalMs ?? 1000;
    this.maxAgeMs = opts.maxAgeMs ?? 10_000;
  }

  /** When the snapshot being served was made (epoch ms), undefined before the first. */
  get snapshotAt(): number | undefined {
    return this.built?.snapshot.at;
  }

  /** Something residents may see changed; the next request after `minIntervalMs` makes a new snapshot. */
  touch(): void {
    this.dirty = true;
  }

  /** The current body of `name`. Rejects only when no snapshot could be made yet. */
  async get(name: RepresentationName): Promise<Representation> {
    const built = await this.current();
    let r = built.reps.get(name);
    if (!r) built.reps.set(name, (r = this.render(built.snapshot, name)));
    return r;
  }

  private render(snapshot: ResidentSnapshot, name: RepresentationName): Representation {
    const { cityName, timeZone } = this.opts;
    switch (name) {
      case 'parking.geojson':
        return rep(parkingGeoJson(snapshot), 'application/geo+json; charset=utf-8');
      case 'outages.geojson':
        return rep(outagesGeoJson(snapshot), 'application/geo+json; charset=utf-8');
      case 'parking.json':
        return rep(parkingDatex(snapshot, cityName), 'application/json; charset=utf-8');
      case 'status':
      case 'status-still':
        return rep(renderStatusPage(snapshot, { cityName, refreshing: name === 'status', timeZone }), 'text/html; charset=utf-8');
    }
  }

  /** The current snapshot, made again first when it may be out of date. */
  async current(): Promise<Built> {
    const built = this.built;
    const now = this.now();
    if (built && !this.due(built, now)) return built;
    if (this.making) return this.making;
    if (built && now - this.lastAttempt < this.minIntervalMs) return built;
    this.lastAttempt = now;
    this.making = this.make(now).finally(() => {
      this.making = undefined;
    });
    return this.making;
  }

  private due(b: Built, now: number): boolean {
    return this.dirty || now >= b.snapshot.staleAt || now - b.snapshot.at >= this.maxAgeMs;
  }

  private async make(now: number): Promise<Built> {
    // Cleared before reading: a touch while reading makes the next request read again.
    const wasDirty = this.dirty;
    this.dirty = false;
    try {
      const input = await this.opts.source.read();
      const snapshot = buildResidentSnapshot({ ...input, now });
      this.built = { snapshot, reps: new Map() };
      this.builds++;
      if (this.failing) this.opts.log.info('residents’ open data and status page are current again');
      this.failing = false;
      return this.built;
    } catch (err) {
      this.dirty ||= wasDirty;
      if (!this.failing) {
        this.opts.log.warn(
          { err, code: ErrorCodes.STORE_UNAVAILABLE.code },
          this.built ? 'could not refresh the residents’ open data; serving the last snapshot until the store answers' : 'could not make the residents’ open data: the store does not answer',
        );
      }
      this.failing = true;
      if (this.built) return this.built;
      throw err;
    }
  }
}

function rep(text: string, contentType: string): Representation {
  const body = Buffer.from(text, 'utf8');
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`, contentType };
}
