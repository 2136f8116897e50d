import { describe, expect, it } from 'vitest';
import type { ParkingPlace, ResidentSnapshot } from './snapshot.js';
import { ageText, escapeHtml, MAX_PLACE_ROWS, renderStatusPage } from './status-page.js';

const AT = Date.parse('2026-12-04T10:00:00Z');

function place(n: number, status: ParkingPlace['status'], district = 'centrum'): ParkingPlace {
  return {
    id: `zone:z${n}`,
    kind: 'zone',
    name: `Zone ${String(n).padStart(3, '0')}`,
    district,
    lat: 52,
    lon: 4,
    totalSpotNumber: 4,
    availableSpotNumber: status === 'unknown' ? null : status === 'open' ? 2 : 0,
    unknownSpotNumber: status === 'unknown' ? 4 : 0,
    status,
    updated: status === 'unknown' ? null : AT - 90_000,
  };
}

function snapshot(places: ParkingPlace[]): ResidentSnapshot {
  return { at: AT, places, outages: [], outageHeadings: ['Streetlights'], staleAt: Infinity };
}

const render = (s: ResidentSnapshot) => renderStatusPage(s, { cityName: 'Test <City>', refreshing: true, timeZone: 'Europe/Amsterdam' });

describe('renderStatusPage', () => {
  it('says how old the data is, in the city’s time, and how many places have none recent', () => {
    const page = render(snapshot([place(1, 'open'), place(2, 'unknown'), place(3, 'full')]));
    expect(page).toContain('Newest reading: 1 minute ago (<time datetime="2026-12-04T09:58:30.000Z">10:58 CET</time>)');
    expect(page).toContain('1 of 3 places has no recent data and counts as unknown.');
    expect(render(snapshot([place(1, 'unknown'), place(2, 'unknown')]))).toContain('2 of 2 places have no recent data and count as unknown.');
    expect(render(snapshot([place(1, 'open')]))).toContain('Every place has recent data.');
    expect(page).toContain('<title>Test &lt;City&gt;: parking, streetlights and bins now</title>');
    expect(page).toContain('<p>Nothing reported now.</p>');
  });

  it(`lists at most ${MAX_PLACE_ROWS} places, by district and name, and points to the open data for the rest`, () => {
    const many = Array.from({ length: MAX_PLACE_ROWS + 20 }, (_, i) => place(i, 'open', i % 2 ? 'west' : 'centrum'));
    const page = render(snapshot(many));
    const rows = page.match(/<th scope="row">Zone \d+<\/th>/g) ?? [];
    expect(rows).toHaveLength(MAX_PLACE_ROWS);
    expect(page).toContain(`The first ${MAX_PLACE_ROWS} of ${MAX_PLACE_ROWS + 20} places, by district.`);
    // Centrum's 60 first, then west's from its first name on.
    expect(rows[0]).toContain('Zone 000');
    expect(rows[60]).toContain('Zone 001');
  });
});

describe('ageText and escapeHtml', () => {
  it('read as people say them, and escape what HTML would take as markup', () => {
    expect([0, 59_999, 60_000, 3_599_999, 3_600_000, 47 * 3_600_000, 49 * 3_600_000].map(ageText)).toEqual([
      'less than a minute ago',
      'less than a minute ago',
      '1 minute ago',
      '59 minutes ago',
      '1 hour ago',
      '47 hours ago',
      '2 days ago',
    ]);
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
