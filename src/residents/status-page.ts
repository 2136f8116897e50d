/**
 * `GET /status`: one server-rendered HTML page for residents (CONTRACT §9). No framework and no
 * script: it works in any browser, with JavaScript off, and with a screen reader.
 *
 * Accessibility (WCAG 2.1 AA, checked with axe-core in a real Chromium by
 * test/status-page.browser.test.ts): a language, landmarks (header, main, footer), one h1 then an
 * h2 per section, data tables with captions and column headers, text and badges above 4.5:1
 * contrast, readable from 320 px wide without sideways scrolling (a table wider than the screen,
 * say with a long place name, scrolls inside its own region, not the page). The page refreshes
 * itself every minute through the HTTP `Refresh` header (not a meta refresh); its first link turns
 * that off (`?refresh=off`), which WCAG 2.2.1 asks of anything on a timer.
 *
 * Times are the server's local time zone (the city's), with the zone named; ages ("2 minutes ago")
 * are counted from when the page was made, which the footer says.
 */
import { newestUpdate } from './feeds.js';
import type { Outage, ParkingPlace, ResidentSnapshot } from './snapshot.js';

/** Rows of the page's table of parking places; the rest are in the open data. */
export const MAX_PLACE_ROWS = 100;

/** "1 of 4 places has no recent data …", "3 of 4 places have …". */
function unknownText(unknown: number, total: number): string {
  if (total === 1) return 'The one place has no recent data and counts as unknown.';
  return unknown === 1 ? `1 of ${total} places has no recent data and counts as unknown.` : `${unknown} of ${total} places have no recent data and count as unknown.`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Seconds between refreshes of the page (the `Refresh` header). */
export const REFRESH_S = 60;

export interface StatusPageOptions {
  /** The page's title, e.g. `Amsterdam`. */
  readonly cityName: string;
  /** Whether this copy refreshes itself (the link offers the other). */
  readonly refreshing: boolean;
  /** Time zone for times shown; default the process's. */
  readonly timeZone?: string | undefined;
}

/** The page's stylesheet: inline, so the page is one request; allowed by its hash in the page's CSP. */
export const STATUS_CSS = `
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;background:#fff}
header,main,footer{max-width:48rem;margin:0 auto;padding:0 1rem}
header{padding-top:1rem}
h1{font-size:1.6rem;margin:.5rem 0}
h2{font-size:1.25rem;margin:2rem 0 .5rem;border-top:2px solid #1b1b1b;padding-top:1rem}
a{color:#0b4fa8}
a:focus{outline:3px solid #1b1b1b;outline-offset:2px}
.refresh{font-size:.95rem}
.age{color:#3d3d3d}
table{border-collapse:collapse;width:100%}
.table-scroll{overflow-x:auto;margin:.5rem 0 1rem}
.table-scroll:focus-visible{outline:3px solid #1b1b1b;outline-offset:2px}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #767676;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.n,time{white-space:nowrap}
.badge{display:inline-block;padding:0 .4rem;border-radius:.25rem;font-weight:600;white-space:nowrap}
.open{background:#e3f3e6;color:#10592a}
.full{background:#fbe7e7;color:#8a1919}
.unknown{background:#ececec;color:#333}
footer{margin:2rem auto 1rem;font-size:.95rem;color:#3d3d3d}
@media (max-width:30rem){header,main,footer{padding-left:.75rem;padding-right:.75rem}th,td{padding:.35rem .25rem}h1{font-size:1.4rem}table{font-size:.875rem}.badge{padding:0 .25rem;white-space:normal}}
`.trim();

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => escapes[c]!);
}

/** "less than a minute ago", "3 minutes ago", "2 hours ago", "4 days ago". */
export function ageText(ms: number): string {
  const min = Math.floor(Math.max(0, ms) / 60_000);
  if (min < 1) return 'less than a minute ago';
  if (min < 60) return `${min} minute${min === 1 ? '' : 's'} ago`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} hour${h === 1 ? '' : 's'} ago`;
  const d = Math.floor(h / 24);
  return `${d} days ago`;
}

interface DistrictParking {
  district: string;
  free: number;
  spaces: number;
  places: number;
  unknown: number;
}

function byDistrict(places: readonly ParkingPlace[]): DistrictParking[] {
  const m = new Map<string, DistrictParking>();
  for (const p of places) {
    let d = m.get(p.district);
    if (!d) m.set(p.district, (d = { district: p.district, free: 0, spaces: 0, places: 0, unknown: 0 }));
    d.places++;
    d.free += p.availableSpotNumber ?? 0;
    d.spaces += p.totalSpotNumber ?? 0;
    if (p.status === 'unknown') d.unknown++;
  }
  return [...m.values()].sort((a, b) => (a.district < b.district ? -1 : a.district > b.district ? 1 : 0));
}

interface OutageGroup {
  service: string;
  district: string;
  count: number;
  oldest: number;
}

function groupOutages(outages: readonly Outage[]): OutageGroup[] {
  const m = new Map<string, OutageGroup>();
  for (const o of outages) {
    const key = `${o.service}\u0000${o.district}`;
    const g = m.get(key);
    if (g) {
      g.count++;
      g.oldest = Math.min(g.oldest, o.since);
    } else m.set(key, { service: o.service, district: o.district, count: 1, oldest: o.since });
  }
  return [...m.values()].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.district < b.district ? -1 : a.district > b.district ? 1 : 0));
}

/**
 * A data table's start, inside a labelled region of its own that scrolls sideways when the table is
 * wider than the screen (a long place name on a phone), so that the page itself never does: WCAG
 * 1.4.10 lets a data table keep its two dimensions, not push the whole page off the side.
 * `tabindex` lets a keyboard scroll it. `caption` is HTML (escaped by the caller).
 */
function tableStart(captionId: string, caption: string): string {
  return `<div class="table-scroll" role="region" aria-labelledby="${captionId}" tabindex="0"><table><caption id="${captionId}">${caption}</caption>`;
}
const TABLE_END = '</table></div>';

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'section';
}

/** Made once per time zone: an Intl.DateTimeFormat costs far more to make than to use. */
const formatters = new Map<string, { clock: Intl.DateTimeFormat; dated: Intl.DateTimeFormat }>();
function formattersFor(timeZone: string | undefined) {
  const key = timeZone ?? '';
  let f = formatters.get(key);
  if (!f) {
    const zone = timeZone ? { timeZone } : {};
    f = {
      clock: new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZoneName: 'short', ...zone }),
      dated: new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZoneName: 'short', ...zone }),
    };
    formatters.set(key, f);
  }
  return f;
}

export function renderStatusPage(s: ResidentSnapshot, opts: StatusPageOptions): string {
  const { clock, dated } = formattersFor(opts.timeZone);
  const when = (ms: number) => `<time datetime="${new Date(ms).toISOString()}">${escapeHtml((s.at - ms < 20 * 3600_000 ? clock : dated).format(ms))}</time>`;
  const city = escapeHtml(opts.cityName);
  const out: string[] = [];
  out.push(
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${city}: parking, streetlights and bins now</title>`,
    `<style>${STATUS_CSS}</style>`,
    '</head>',
    '<body>',
    '<header>',
    `<h1>${city} now</h1>`,
    '<p>Free parking, streetlights that are out and bins being emptied, from the city’s sensors.</p>',
    opts.refreshing
      ? `<p class="refresh">This page updates itself every minute. <a href="/status?refresh=off">Stop updating</a></p>`
      : `<p class="refresh">This page does not update itself. <a href="/status">Update every minute</a></p>`,
    '</header>',
    '<main>',
  );

  // Parking.
  const places = s.places;
  out.push('<section aria-labelledby="parking">', '<h2 id="parking">Parking</h2>');
  if (places.length === 0) {
    out.push('<p>No parking places report their free spaces.</p>');
  } else {
    const newest = newestUpdate(places);
    const unknown = places.filter((p) => p.status === 'unknown').length;
    out.push(
      `<p class="age">Newest reading: ${newest === null ? 'none recent' : `${ageText(s.at - newest)} (${when(newest)})`}. ` +
        `${unknown === 0 ? 'Every place has recent data.' : unknownText(unknown, places.length)}</p>`,
      tableStart('parking-districts', 'Free parking spaces by district'),
      '<thead><tr><th scope="col">District</th><th scope="col" class="n">Free spaces</th><th scope="col" class="n">Spaces</th><th scope="col" class="n">Places with no recent data</th></tr></thead>',
      '<tbody>',
    );
    for (const d of byDistrict(places)) {
      out.push(`<tr><th scope="row">${escapeHtml(d.district)}</th><td class="n">${d.free}</td><td class="n">${d.spaces}</td><td class="n">${d.unknown}</td></tr>`);
    }
    out.push('</tbody>', TABLE_END);
    out.push(
      tableStart('parking-places', 'Parking places'),
      '<thead><tr><th scope="col">Place</th><th scope="col">District</th><th scope="col" class="n">Free</th><th scope="col">Status</th></tr></thead>',
      '<tbody>',
    );
    // A city with hundreds of meters would make this a very long page: the first ones by district
    // and name, and the open data has them all.
    const listed = [...places].sort((a, b) => compare(a.district, b.district) || compare(a.name, b.name)).slice(0, MAX_PLACE_ROWS);
    for (const p of listed) {
      const free = p.availableSpotNumber === null ? '–' : `${p.availableSpotNumber} of ${p.totalSpotNumber ?? '?'}`;
      const label = p.status === 'open' ? 'Spaces free' : p.status === 'full' ? 'Full' : 'Unknown';
      out.push(`<tr><th scope="row">${escapeHtml(p.name)}</th><td>${escapeHtml(p.district)}</td><td class="n">${free}</td><td><span class="badge ${p.status}">${label}</span></td></tr>`);
    }
    out.push('</tbody>', TABLE_END);
    if (places.length > listed.length) {
      out.push(`<p>The first ${listed.length} of ${places.length} places, by district. Every place is in the <a href="/open/v1/parking.geojson">parking open data</a>.</p>`);
    }
  }
  out.push('</section>');

  // One section per outage type (streetlights, bins, …).
  for (const heading of s.outageHeadings) {
    const id = `out-${slug(heading)}`;
    const mine = s.outages.filter((o) => o.heading === heading);
    out.push(`<section aria-labelledby="${id}">`, `<h2 id="${id}">${escapeHtml(heading)}</h2>`);
    if (mine.length === 0) {
      out.push('<p>Nothing reported now.</p>', '</section>');
      continue;
    }
    out.push(
      `<p>${mine.length} open report${mine.length === 1 ? '' : 's'}; the newest ${ageText(s.at - mine[0]!.since)}.</p>`,
      tableStart(`${id}-reports`, `${escapeHtml(heading)}: open reports by district`),
      '<thead><tr><th scope="col">Report</th><th scope="col">District</th><th scope="col" class="n">Open</th><th scope="col">Since</th></tr></thead>',
      '<tbody>',
    );
    for (const g of groupOutages(mine)) {
      out.push(`<tr><th scope="row">${escapeHtml(g.service)}</th><td>${escapeHtml(g.district)}</td><td class="n">${g.count}</td><td>${when(g.oldest)}</td></tr>`);
    }
    out.push('</tbody>', TABLE_END, '</section>');
  }

  out.push(
    '</main>',
    '<footer>',
    `<p>Made at ${when(s.at)}. Readings older than three reporting intervals count as unknown.</p>`,
    '<p>Open data (free to reuse): <a href="/open/v1/parking.geojson">parking places (GeoJSON)</a>, <a href="/open/v1/parking.json">parking status (DATEX II style JSON)</a>, <a href="/open/v1/outages.geojson">outages (GeoJSON)</a>.</p>',
    '</footer>',
    '</body>',
    '</html>',
  );
  return `${out.join('\n')}\n`;
}
