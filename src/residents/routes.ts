/**
 * The residents' routes (CONTRACT §9): `GET /open/v1/parking.geojson`, `/open/v1/outages.geojson`,
 * `/open/v1/parking.json` and `GET /status`. Public (no token), read-only, answered from the view's
 * memory with a strong `ETag` (a matching `If-None-Match` gets 304 and no body), `Cache-Control:
 * public, max-age=10`, and CORS for any origin. They have their own per-address rate limit
 * (CITYPIPE_OPEN_RATE, security.ts): an answer costs little, and a city's proxy may send every
 * resident from one address.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StoreUnavailableError } from '../http/store-unavailable.js';
import { REFRESH_S, STATUS_CSS } from './status-page.js';
import type { RepresentationName, ResidentView } from './view.js';
import type { ResidentEvents } from './metrics.js';

/** `Cache-Control: max-age` of every answer: the view makes a new snapshot at least this often. */
export const MAX_AGE_S = 10;

export interface ResidentRouteDeps {
  view: ResidentView;
  /** Counts answers (metrics.ts); must not throw. */
  events?: ResidentEvents | undefined;
}

const CORS = {
  'access-control-allow-origin': '*',
  // A page on another origin may read the ETag to revalidate by hand.
  'access-control-expose-headers': 'ETag',
  // Embeddable from any origin (the default for the API is same-origin).
  'cross-origin-resource-policy': 'cross-origin',
} as const;

const STYLE_HASH = `'sha256-${createHash('sha256').update(STATUS_CSS).digest('base64')}'`;
/** The page has no script, no image and no form: only its own inline stylesheet may apply. */
const PAGE_CSP = `default-src 'none'; style-src ${STYLE_HASH}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/** True when `header` (If-None-Match) names `etag` or is `*`; weak comparison, as RFC 9110 asks for GET. */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const bare = etag.replace(/^W\//, '');
  for (const raw of header.split(',')) {
    const t = raw.trim();
    if (t === '*' || t.replace(/^W\//, '') === bare) return true;
  }
  return false;
}

const feeds: readonly { url: string; name: RepresentationName; summary: string }[] = [
  { url: '/open/v1/parking.geojson', name: 'parking.geojson', summary: 'Every parking zone and parking meter with its free spaces (GeoJSON FeatureCollection); stale data is `unknown`' },
  { url: '/open/v1/outages.geojson', name: 'outages.geojson', summary: 'Open public reports of streetlights and bins (GeoJSON FeatureCollection), locations rounded to ~10 m' },
  { url: '/open/v1/parking.json', name: 'parking.json', summary: 'Parking status as a DATEX II-style publication (`parkingRecordStatus`)' },
];

export function registerResidentRoutes(app: FastifyInstance, deps: ResidentRouteDeps): void {
  const answer = async (req: FastifyRequest, reply: FastifyReply, name: RepresentationName, extra: Record<string, string>) => {
    let r;
    try {
      r = await deps.view.get(name);
    } catch (err) {
      deps.events?.answered(name, 503);
      throw new StoreUnavailableError(err);
    }
    reply.headers({ ...CORS, ...extra, etag: r.etag, 'cache-control': `public, max-age=${MAX_AGE_S}` });
    if (matchesEtag(req.headers['if-none-match'], r.etag)) {
      deps.events?.answered(name, 304);
      return reply.code(304).send();
    }
    deps.events?.answered(name, 200);
    return reply.type(r.contentType).send(r.body);
  };
  const config = { residents: true } as const;
  for (const f of feeds) {
    app.get(f.url, { config, schema: { summary: f.summary, tags: ['residents'] } }, (req, reply) => answer(req, reply, f.name, {}));
  }
  app.get<{ Querystring: { refresh?: string } }>(
    '/status',
    {
      config,
      schema: {
        summary: 'The residents’ status page (HTML): parking by district, streetlights out, bins being emptied, and the data’s age',
        tags: ['residents'],
        querystring: { type: 'object', properties: { refresh: { type: 'string', description: '`off`: a copy that does not refresh itself' } } },
      },
    },
    (req, reply) => {
      const still = req.query.refresh === 'off';
      return answer(req, reply, still ? 'status-still' : 'status', { 'content-security-policy': PAGE_CSP, ...(still ? {} : { refresh: String(REFRESH_S) }) });
    },
  );
  // CORS preflight (a client that sends If-None-Match itself needs one).
  app.options('/open/v1/*', { config, schema: { hide: true } }, async (_req, reply) =>
    reply
      .code(204)
      .headers({ ...CORS, 'access-control-allow-methods': 'GET, HEAD, OPTIONS', 'access-control-allow-headers': 'If-None-Match, Cache-Control', 'access-control-max-age': '86400' })
      .send(),
  );
}
