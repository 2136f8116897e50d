/**
 * A webhook whose URL path is its credential (as Slack's and Teams' are), and an Open311 forward with
 * an api_key, against the real service: deliveries succeed, are refused, fail and are retried, and
 * the path, the api_key and the signing secret appear in neither /metrics nor any log line. Targets
 * show up by origin instead.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../src/observability/logger.js';
import { connectDevice, startTestService, telemetryTopic, testDevice, type RunningService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

const influxUrl = inject('influxUrl');
const SECRET_PATH = '/services/T0SECRET01/B0SECRET02/XyZsecretPathToken123';
const SIGNING_SECRET = 'signing-SECRET-04-0123456789';
const API_KEY = 'open311-api-key-SECRET05';
const NEEDLES = ['T0SECRET01', 'B0SECRET02', 'XyZsecretPathToken123', 'SECRET04', 'SECRET05'];

/** A receiver on 127.0.0.1 that answers the i-th request as `answer(i)` says. */
async function receiver(answer: (i: number) => { status: number; body?: string }): Promise<{ url: string; count(): number; server: Server }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const a = answer(n++);
      res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, count: () => n, server };
}

const servers: Server[] = [];
let svc: RunningService | undefined;
afterAll(async () => {
  await svc?.stop();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('delivery targets in logs and metrics', () => {
  it('never show a webhook’s secret path, the Open311 api_key or the signing secret, whatever the receivers answer', async () => {
    // Webhook: delivered, refused with a 404 page that echoes the path, failed with a 500 that echoes
    // the whole URL (retried), then delivered.
    const hook = await receiver((i) =>
      [
        { status: 200 },
        { status: 404, body: `Cannot POST ${SECRET_PATH}` },
        { status: 500, body: `upstream error for http://127.0.0.1${SECRET_PATH}` },
      ][i] ?? { status: 200 },
    );
    // Open311: refuses the first with a message that echoes the api_key, then takes them.
    const city = await receiver((i) => (i === 0 ? { status: 400, body: `invalid api_key ${API_KEY}` } : { status: 201, body: '[{"service_request_id":"R-1"}]' }));
    servers.push(hook.server, city.server);

    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const bins = [testDevice('waste-bin', 'centrum'), testDevice('waste-bin', 'centrum'), testDevice('waste-bin', 'centrum')];
    svc = await startTestService(
      influxUrl,
      bins,
      {
        CITYPIPE_LOG_LEVEL: 'debug',
        CITYPIPE_WEBHOOK_URLS: `${hook.url}${SECRET_PATH}`,
        CITYPIPE_WEBHOOK_SECRET: SIGNING_SECRET,
        CITYPIPE_OPEN311_FORWARD_URL: `${city.url}/open311/v2`,
        CITYPIPE_OPEN311_API_KEY: API_KEY,
      },
      { log: createLogger('debug', sink), service: { deliveryBackoff: { baseMs: 100, maxMs: 400 } } },
    );

    // A burning bin opens an urgent ticket on its first reading: one webhook and one Open311 message each.
    for (const bin of bins) {
      const client = await connectDevice(svc.mqttUrl, bin);
      await client.publishAsync(telemetryTopic(bin), JSON.stringify({ fillingLevel: 0.4, temperature: 20, status: 'burning' }), { qos: 1 });
      await client.endAsync();
    }
    await waitFor('every webhook message answered, one of them twice', () => hook.count() >= 4, 20_000);
    await waitFor('every Open311 message answered', () => city.count() >= 3, 20_000);

    const metrics = await waitFor(
      'delivered, retried and failed deliveries in /metrics',
      async () => {
        const text = await (await fetch(`${svc!.httpUrl}/metrics`)).text();
        const has = (outcome: string, target: string) => new RegExp(`citypipe_deliveries_total\\{target="${target}",outcome="${outcome}"\\}`).test(text);
        return ['delivered', 'failed', 'retry'].every((o) => has(o, 'webhook:[^"]+')) && has('failed', 'open311') && has('delivered', 'open311') ? text : undefined;
      },
      20_000,
    );
    const logged = lines.join('');
    for (const needle of NEEDLES) {
      expect(metrics, `/metrics holds ${needle}`).not.toContain(needle);
      expect(logged, `the log holds ${needle}`).not.toContain(needle);
    }
    // Targets are named by origin; the log still says what happened to each.
    const label = `webhook:${hook.url}`;
    for (const outcome of ['delivered', 'failed', 'retry']) expect(metrics).toContain(`citypipe_deliveries_total{target="${label}",outcome="${outcome}"}`);
    expect(metrics).toContain(`citypipe_delivery_pending{target="${label}"}`);
    expect(logged).toContain('CP_ERR_DELIVERY_REJECTED');
    expect(logged).toContain('CP_ERR_DELIVERY_RETRYING');
    expect(logged).toContain(label);
  }, 60_000);
});
