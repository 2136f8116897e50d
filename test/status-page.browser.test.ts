/**
 * The residents' status page (`GET /status`, CONTRACT §9) in a real headless Chromium: a real
 * service with a small city (parking zones with spaces free, full and unknown, a parking meter,
 * a defective streetlight, a full bin), checked with axe-core against WCAG 2.0/2.1 A/AA and best
 * practices, with JavaScript off, at phone width, and for its self-refresh and the link that stops it
 * (WCAG 2.2.1). The page's own Content-Security-Policy stays on throughout: axe is injected through
 * the DevTools protocol, which the policy does not govern, so a stylesheet the policy blocked would
 * show up here as a console error and as contrast the page never meant.
 *
 * Screenshots (phone and desktop) go to test-artifacts/ at the repository root for a human to look at.
 */
import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { AxeResults, Result } from 'axe-core';
import type { MqttClient } from 'mqtt';
import { launch, type Browser, type HTTPResponse, type Page, type SerializedAXNode } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { root } from './helpers/cli.js';
import { influxQuery } from './helpers/influx.js';
import { connectDevice, startTestService, telemetryTopic, testDevice, type RunningService, type TestDevice } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

const influxUrl = inject('influxUrl');
const ARTIFACTS = path.join(root, 'test-artifacts');
/** Chromium's start on a busy 2-core machine takes seconds; each browser step is bounded by this. */
const STEP_MS = 20_000;
const TEST_MS = 45_000;

/** /usr/bin/chromium (Debian's package), else `chromium` or `chromium-browser` on PATH. */
function findChromium(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const candidates = ['/usr/bin/chromium', ...['chromium', 'chromium-browser'].flatMap((name) => dirs.map((d) => path.join(d, name)))];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here; try the next
    }
  }
  return undefined;
}

// The city: two districts of bays, a meter, two streetlights and two bins.
const kadeFree = testDevice('parking-spot', 'Noord', { zone: 'Noord Kade' });
const kadeTaken = testDevice('parking-spot', 'Noord', { zone: 'Noord Kade' });
const pleinTaken = testDevice('parking-spot', 'Noord', { zone: 'Noord Plein' });
const marktStale = testDevice('parking-spot', 'Zuid', { zone: 'Zuid Markt' });
const meter = testDevice('parking-meter', 'Zuid');
const lightBroken = testDevice('streetlight', 'Zuid', { powerRating: 60 });
const lightOk = testDevice('streetlight', 'Zuid', { powerRating: 60 });
const binFull = testDevice('waste-bin', 'Noord');
const binLow = testDevice('waste-bin', 'Noord');
const city = [kadeFree, kadeTaken, pleinTaken, marktStale, meter, lightBroken, lightOk, binFull, binLow];

let svc: RunningService;
let browser: Browser | undefined;
let axeSource: string;
const clients: MqttClient[] = [];

async function publish(device: TestDevice, reading: Record<string, unknown>): Promise<void> {
  const c = await connectDevice(svc.mqttUrl, device);
  clients.push(c);
  await c.publishAsync(telemetryTopic(device), JSON.stringify(reading), { qos: 1 });
}

async function statusHtml(): Promise<string> {
  const res = await fetch(`${svc.httpUrl}/status`);
  return res.ok ? res.text() : '';
}

beforeAll(async () => {
  // Before anything slow: a machine without Chromium fails here, saying how to get it.
  const executablePath = findChromium();
  if (!executablePath) {
    throw new Error(
      'Chromium not found (/usr/bin/chromium, or chromium / chromium-browser on PATH); the status page test needs a real browser. ' +
        'Install it with: bash scripts/setup.sh --with-test-tools (installs the Debian `chromium` package).',
    );
  }
  axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

  svc = await startTestService(influxUrl, city, { CITYPIPE_CITY_NAME: 'Testdam' });
  const now = Date.now();
  // 5 minutes old against a 60 s reporting interval: more than 3 intervals, so Zuid Markt is unknown.
  const staleTs = now - 5 * 60_000;
  await publish(kadeFree, { status: 'free', ts: now });
  await publish(kadeTaken, { status: 'occupied', ts: now });
  await publish(pleinTaken, { status: 'occupied', ts: now });
  await publish(marktStale, { status: 'free', ts: staleTs });
  await publish(meter, { totalSpotNumber: 6, availableSpotNumber: 4, ts: now });
  await publish(lightBroken, { powerState: 'off', status: 'defectiveLamp', ts: now });
  await publish(lightOk, { powerState: 'off', status: 'ok', ts: now });
  await publish(binFull, { fillingLevel: 0.95, ts: now });
  await publish(binLow, { fillingLevel: 0.2, ts: now });

  // The stale reading was stored (so Zuid Markt is unknown because it is old, not because it was refused).
  await waitFor('the stale bay reading in InfluxDB', async () => {
    const rows = await influxQuery(influxUrl, svc.db, `SELECT count(status) FROM parking_spot WHERE device_id = '${marktStale.record.id}'`);
    return rows.length > 0 && rows[0]!.count === 1;
  });
  await waitFor(
    'the status page to show free, full and unknown places, the streetlight and the bin',
    async () => {
      const html = await statusHtml();
      return ['Repair a streetlight', 'Collect a full waste bin', '>Spaces free<', '>Full<', '>Unknown<', '4 of 6'].every((s) => html.includes(s));
    },
    20_000,
    200,
  );

  browser = await launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    timeout: STEP_MS,
    protocolTimeout: STEP_MS,
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const c of clients.splice(0)) await c.endAsync().catch(() => undefined);
  await svc?.stop();
});

interface Opened {
  page: Page;
  response: HTTPResponse;
  /** Console errors (a Content-Security-Policy refusal among them). */
  errors: string[];
}

async function open(query: string, setUp: (page: Page) => Promise<void> = async () => undefined): Promise<Opened> {
  const page = await browser!.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.setDefaultNavigationTimeout(STEP_MS);
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await setUp(page);
  const response = await page.goto(`${svc.httpUrl}/status${query}`, { waitUntil: 'load' });
  expect(response?.status()).toBe(200);
  return { page, response: response!, errors };
}

/**
 * Evaluates `expression` in the page (awaiting a promise). Page-side code is a string: the project's
 * TypeScript has no DOM library (the service never runs in a browser), and a string cannot close
 * over a Node value by mistake.
 */
function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}

/**
 * The page's layout width and the width of its content (more content than layout means sideways
 * scrolling), the innermost elements that stick out, to say what to fix, and the tables that
 * scroll inside their own region.
 */
function widths(page: Page): Promise<{ scrollWidth: number; clientWidth: number; sticking: string[]; scrollingTables: string[] }> {
  return inPage(
    page,
    `(() => {
      const root = document.documentElement;
      const out = [...document.body.querySelectorAll('*')].filter((e) => e.getBoundingClientRect().right > root.clientWidth + 0.5);
      const innermost = out.filter((e) => !out.some((o) => o !== e && e.contains(o)));
      const sticking = innermost.slice(0, 8).map((e) => e.tagName.toLowerCase() + (e.className ? '.' + e.className.split(' ').join('.') : '') + ' "' + e.textContent.trim().slice(0, 40) + '" right=' + Math.round(e.getBoundingClientRect().right));
      const scrollingTables = [...document.querySelectorAll('table')].filter((t) => t.parentElement.scrollWidth > t.parentElement.clientWidth).map((t) => t.caption.textContent);
      return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, sticking, scrollingTables };
    })()`,
  );
}

function describeViolations(url: string, violations: readonly Result[]): string {
  return [
    `axe found ${violations.length} violation(s) on ${url}:`,
    ...violations.map(
      (v) =>
        `- ${v.id} (${v.impact ?? 'no impact'}): ${v.help} [${v.helpUrl}]\n` +
        v.nodes.map((n) => `    at ${n.target.join(' ')}: ${n.failureSummary?.replace(/\n/g, ' ') ?? n.html}`).join('\n'),
    ),
  ].join('\n');
}

/** Rules that apply to this page; axe must have run and passed each, or the zero-violation check proves nothing. */
const MUST_PASS = [
  'color-contrast',
  'document-title',
  'html-has-lang',
  'html-lang-valid',
  'landmark-one-main',
  'landmark-banner-is-top-level',
  'region',
  'page-has-heading-one',
  'heading-order',
  'th-has-data-cells',
  'td-headers-attr',
  'scope-attr-valid',
  'link-name',
  'meta-viewport',
];

describe('the status page in Chromium', () => {
  for (const query of ['', '?refresh=off']) {
    it(`passes axe-core's default rules (WCAG 2.0/2.1 A and AA, best practices): /status${query}`, async () => {
      const { page, errors } = await open(query);
      try {
        // The inline stylesheet applied (its hash is in the CSP): header and main are 48rem wide at most.
        expect(await inPage<string>(page, `getComputedStyle(document.querySelector('main')).maxWidth`)).toBe('768px');
        await page.evaluate(axeSource);
        const results = await inPage<AxeResults>(page, 'axe.run(document)');
        expect(results.violations, describeViolations(`/status${query}`, results.violations)).toEqual([]);
        const passed = new Set(results.passes.map((p) => p.id));
        expect(MUST_PASS.filter((id) => !passed.has(id)), 'rules axe did not run and pass on this page').toEqual([]);
        // Contrast was measured on real text: the badges, table cells and links, not an empty page.
        expect(results.passes.find((p) => p.id === 'color-contrast')!.nodes.length).toBeGreaterThan(20);
        expect(results.incomplete.filter((r) => r.id === 'color-contrast'), 'text whose contrast axe could not decide').toEqual([]);
        expect(errors, 'console errors (a CSP refusal?)').toEqual([]);
      } finally {
        await page.close();
      }
    }, TEST_MS);
  }

  it('shows its content with JavaScript off: headings, parking rows and the streetlight report', async () => {
    const { page, errors } = await open('', (p) => p.setJavaScriptEnabled(false));
    try {
      // The DevTools protocol still reads the DOM and the accessibility tree with the page's scripts off.
      const tree = await page.accessibility.snapshot();
      const headings: string[] = [];
      const walk = (n: SerializedAXNode | null): void => {
        if (!n) return;
        if (n.role === 'heading') headings.push(`${n.level}:${n.name}`);
        for (const c of n.children ?? []) walk(c);
      };
      walk(tree);
      expect(headings).toEqual(['1:Testdam now', '2:Parking', '2:Streetlights', '2:Waste bins']);

      const seen = await inPage<{ scripts: number; tables: { caption: string; rows: string[][] }[] }>(
        page,
        `({
          scripts: document.scripts.length,
          tables: [...document.querySelectorAll('table')].map((t) => ({
            caption: t.caption?.textContent ?? '',
            rows: [...t.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.innerText.trim())),
          })),
        })`,
      );
      expect(seen.scripts).toBe(0);
      const table = (caption: string) => seen.tables.find((t) => t.caption === caption)?.rows;
      expect(table('Free parking spaces by district')).toEqual([
        ['Noord', '1', '3', '0'],
        ['Zuid', '4', '7', '1'],
      ]);
      const places = table('Parking places')!;
      expect(places).toContainEqual(['Noord Kade', 'Noord', '1 of 2', 'Spaces free']);
      expect(places).toContainEqual(['Noord Plein', 'Noord', '0 of 1', 'Full']);
      expect(places).toContainEqual(['Zuid Markt', 'Zuid', '–', 'Unknown']);
      expect(places).toContainEqual([meter.record.address, 'Zuid', '4 of 6', 'Spaces free']);
      expect(table('Streetlights: open reports by district')?.map((r) => r.slice(0, 3))).toEqual([['Repair a streetlight', 'Zuid', '1']]);
      expect(table('Waste bins: open reports by district')?.map((r) => r.slice(0, 3))).toEqual([['Collect a full waste bin', 'Noord', '1']]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, TEST_MS);

  it('fits a phone without sideways scrolling, and leaves phone and desktop screenshots', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const shots: string[] = [];
    // 375 px: a common phone; 320 px: the width WCAG 1.4.10 (reflow) asks content to fit.
    for (const width of [375, 320]) {
      // The page as residents first see it (it would refresh itself only after a minute).
      const { page } = await open(width === 375 ? '' : '?refresh=off', (p) => p.setViewport({ width, height: 812, deviceScaleFactor: 2, isMobile: true, hasTouch: true }));
      try {
        const size = await widths(page);
        expect(size.clientWidth, 'the meta viewport makes the layout as wide as the phone').toBe(width);
        expect(size.scrollWidth, `content wider than a ${width} px screen: ${size.sticking.join('; ')}`).toBeLessThanOrEqual(size.clientWidth);
        // A table too wide scrolls in its own region (allowed for data tables); these names are short enough not to.
        expect(size.scrollingTables, `tables that do not fit ${width} px`).toEqual([]);
        if (width === 375) {
          const file = path.join(ARTIFACTS, 'status-phone.png');
          await page.screenshot({ path: file, fullPage: true });
          shots.push(file);
        } else {
          // A place name too long for the screen: its table scrolls in its region, the page still does not.
          await inPage(page, `document.querySelector('#parking-places').closest('table').tBodies[0].rows[0].cells[0].textContent = 'Stadhouderskadezijde-Noord'`);
          const long = await widths(page);
          expect(long.scrollWidth, `content wider than a ${width} px screen: ${long.sticking.join('; ')}`).toBeLessThanOrEqual(long.clientWidth);
          expect(long.scrollingTables).toEqual(['Parking places']);
        }
      } finally {
        await page.close();
      }
    }
    const { page } = await open('', (p) => p.setViewport({ width: 1280, height: 900 }));
    try {
      const size = await widths(page);
      expect(size.scrollWidth, size.sticking.join('; ')).toBeLessThanOrEqual(size.clientWidth);
      const file = path.join(ARTIFACTS, 'status-desktop.png');
      await page.screenshot({ path: file, fullPage: true });
      shots.push(file);
    } finally {
      await page.close();
    }
    for (const f of shots) console.log(`status page screenshot: ${f}`);
    // A PNG each (the signature), not an empty file.
    for (const f of shots) expect(readFileSync(f).subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  }, TEST_MS);

  it('refreshes itself every minute, and its first link (the first thing a keyboard reaches) stops that', async () => {
    const { page, response } = await open('');
    try {
      expect(response.headers().refresh).toBe('60');
      // No meta refresh: the header is the one timer, and the link's copy has none.
      expect(await inPage<number>(page, `document.querySelectorAll('meta[http-equiv]').length`)).toBe(0);

      await page.keyboard.press('Tab');
      const focused = await inPage<Record<string, unknown>>(
        page,
        `(() => {
          const a = document.activeElement;
          return { inHeader: a?.closest('header') !== null, firstInHeader: a === document.querySelector('header a'), text: a?.textContent, href: a?.getAttribute('href') };
        })()`,
      );
      expect(focused).toEqual({ inHeader: true, firstInHeader: true, text: 'Stop updating', href: '/status?refresh=off' });

      const [still] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
      expect(new URL(page.url()).search).toBe('?refresh=off');
      expect(still?.status()).toBe(200);
      expect(still?.headers().refresh).toBeUndefined();
      // And back: the still copy's first link turns updating on again.
      expect(await inPage(page, `(a => ({ text: a.textContent, href: a.getAttribute('href') }))(document.querySelector('header a'))`)).toEqual({ text: 'Update every minute', href: '/status' });
    } finally {
      await page.close();
    }
  }, TEST_MS);
});
