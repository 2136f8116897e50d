/**
 * The real service behind a reverse proxy on 127.0.0.1 (as behind a TLS-terminating one): with
 * CITYPIPE_HTTP_TRUST_PROXY naming the proxy, every client behind it has its own rate bucket; without
 * it, X-Forwarded-For is ignored, so a client cannot spoof its way out of its bucket.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startTestService, testDevice, type RunningService } from './helpers/service.js';

const influxUrl = inject('influxUrl');

/**
 * A reverse proxy on 127.0.0.1 that forwards to `target` and sets X-Forwarded-For to the client
 * address the test names in `x-test-client` (a real proxy writes the address it saw).
 */
async function startProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const { 'x-test-client': client, ...rest } = req.headers;
    const headers = { ...rest, 'x-forwarded-for': String(client ?? '') };
    const up = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Status of one GET on its own connection. */
function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

/** Requests a client gets answered before its first 429 (at 1 request/s the burst is 10). */
async function answeredBefore429(url: string, headers: Record<string, string>): Promise<number> {
  let n = 0;
  // Bounded: never more than the burst plus a margin, so a broken limit fails instead of spinning.
  while (n < 30 && (await status(url, headers)) === 200) n++;
  return n;
}

let svc: RunningService | undefined;
let proxy: { url: string; close(): Promise<void> } | undefined;
afterEach(async () => {
  await proxy?.close();
  await svc?.stop();
  proxy = undefined;
  svc = undefined;
});

describe('HTTP clients behind a reverse proxy', () => {
  it('with CITYPIPE_HTTP_TRUST_PROXY naming the proxy, each client has its own rate bucket', async () => {
    svc = await startTestService(influxUrl, [testDevice('waste-bin', 'centrum')], { CITYPIPE_HTTP_RATE: '1', CITYPIPE_HTTP_TRUST_PROXY: '127.0.0.1' });
    proxy = await startProxy(svc.httpUrl);
    // The burst of 10 requests at 1/s: a bucket refills 1 token a second, so a few more may get
    // through on a slow machine; what matters is that B is not refused because of A.
    const a = await answeredBefore429(`${proxy.url}/healthz`, { 'x-test-client': '203.0.113.1' });
    expect(a).toBeGreaterThanOrEqual(10);
    expect(a).toBeLessThan(30);
    expect(await answeredBefore429(`${proxy.url}/healthz`, { 'x-test-client': '203.0.113.2' })).toBeGreaterThanOrEqual(10);
  });

  it('without it, X-Forwarded-For is ignored: every client through the proxy shares one bucket, and no client can pick another', async () => {
    svc = await startTestService(influxUrl, [testDevice('waste-bin', 'centrum')], { CITYPIPE_HTTP_RATE: '1' });
    proxy = await startProxy(svc.httpUrl);
    expect(await answeredBefore429(`${proxy.url}/healthz`, { 'x-test-client': '203.0.113.1' })).toBeGreaterThanOrEqual(10);
    // Another X-Forwarded-For, through the proxy or straight to the service: the same bucket, which
    // gains one token a second. A fresh bucket would answer 10; fewer means it was not one (under 10
    // unless the machine stalls for 10 s, so a slow run does not make this flaky).
    expect(await answeredBefore429(`${proxy.url}/healthz`, { 'x-test-client': '203.0.113.2' })).toBeLessThan(10);
    expect(await answeredBefore429(`${svc.httpUrl}/healthz`, { 'x-forwarded-for': '198.51.100.9' })).toBeLessThan(10);
  });
});
