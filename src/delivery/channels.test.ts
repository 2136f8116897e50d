/**
 * The contract every delivery channel keeps, run against each one: how an answer (or no answer)
 * becomes a delivered, retryable or final result. The deliverer's retry and ordering rules rest on it.
 */
import http from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Open311Channel } from './open311.js';
import { ticket } from './testing/fixtures.js';
import { TestReceiver } from './testing/receiver.js';
import type { DeliveryChannel, OutgoingMessage } from './types.js';
import { WebhookChannel } from './webhook.js';

const message: OutgoingMessage = { key: 'T-1:1', ticketId: 'T-1', seq: 1, transition: 'opened', at: Date.parse('2026-11-28T10:00:00Z'), ticket: ticket('T-1'), attempt: 1 };

interface ChannelKind {
  readonly kind: string;
  build(url: string, timeoutMs?: number): DeliveryChannel;
  /** A 2xx answer body this receiver kind would send. */
  readonly okBody: string;
}

const kinds: ChannelKind[] = [
  { kind: 'webhook', build: (url, timeoutMs) => new WebhookChannel({ kind: 'webhook', name: 'w', url, secret: 'contract-secret-0123456789' }, { timeoutMs }), okBody: '' },
  {
    kind: 'open311',
    build: (url, timeoutMs) => new Open311Channel({ kind: 'open311', name: 'o', url, apiKey: 'k' }, { timeoutMs }),
    okBody: JSON.stringify([{ service_request_id: 'R-1' }]),
  },
];

describe.each(kinds)('delivery channel contract: $kind', ({ build, okBody }) => {
  let receiver: TestReceiver | undefined;
  afterEach(async () => {
    await receiver?.down();
    receiver = undefined;
  });
  const send = (channel: DeliveryChannel) => channel.send(message, new AbortController().signal);

  it('2xx is delivered', async () => {
    receiver = await new TestReceiver(() => ({ status: 201, body: okBody, headers: { 'content-type': 'application/json' } })).up();
    expect(await send(build(receiver.url))).toMatchObject({ ok: true, status: 201 });
  });

  it.each([408, 429, 500, 502, 503])('%i is retryable', async (status) => {
    receiver = await new TestReceiver(() => ({ status, body: 'busy' })).up();
    expect(await send(build(receiver.url))).toMatchObject({ ok: false, retryable: true, status });
  });

  it('Retry-After in seconds and as an HTTP date is reported', async () => {
    receiver = await new TestReceiver(() => ({ status: 429, headers: { 'retry-after': '7' } })).up();
    expect(await send(build(receiver.url))).toMatchObject({ ok: false, retryable: true, retryAfterMs: 7000 });
    receiver.respond = () => ({ status: 503, headers: { 'retry-after': new Date(Date.now() + 30_000).toUTCString() } });
    const r = await send(build(receiver.url));
    expect(r.ok === false && r.retryAfterMs).toBeGreaterThan(25_000);
  });

  it.each([400, 401, 404, 422])('%i is final, with the status and a body excerpt', async (status) => {
    receiver = await new TestReceiver(() => ({ status, body: `{"error":"no such service_code waste.collect"}${' pad'.repeat(400)}` })).up();
    const r = await send(build(receiver.url));
    expect(r).toMatchObject({ ok: false, retryable: false, status });
    expect(r.ok === false && r.bodyExcerpt).toContain('no such service_code');
    expect(r.ok === false && r.bodyExcerpt && r.bodyExcerpt.length).toBeLessThanOrEqual(513);
  });

  it('a redirect is not followed and is final', async () => {
    receiver = await new TestReceiver(() => ({ status: 302, headers: { location: 'http://127.0.0.1:1/elsewhere' } })).up();
    expect(await send(build(receiver.url))).toMatchObject({ ok: false, retryable: false, status: 302 });
  });

  it('connection refused is retryable', async () => {
    const port = await freePort();
    const r = await send(build(`http://127.0.0.1:${port}`));
    expect(r).toMatchObject({ ok: false, retryable: true });
    expect(r.ok === false && r.error).toContain('ECONNREFUSED');
  });

  it.each([
    [200, { ok: true, status: 200 }],
    [500, { ok: false, retryable: true, status: 500 }],
    [404, { ok: false, retryable: false, status: 404 }],
  ] as const)('an endless answer body (status %i) is read up to 64 KiB, the download dropped, and judged by its status', async (status, expected) => {
    const endless = await endlessReceiver(status);
    try {
      const before = process.memoryUsage();
      const started = Date.now();
      const r = await send(build(endless.url, 20_000));
      expect(r).toMatchObject(expected);
      if (!r.ok) expect(r.bodyExcerpt?.length).toBeLessThanOrEqual(513);
      // Not read to the end nor to the timeout: the channel hung up after 64 KiB.
      expect(Date.now() - started).toBeLessThan(15_000);
      await endless.closed;
      // What the receiver got out before the connection dropped: 64 KiB plus what the kernel's socket
      // buffers take (a few MiB on loopback), nowhere near the 256 MiB it would have sent.
      expect(endless.sentBytes()).toBeLessThan(32 * 1024 * 1024);
      const grown = process.memoryUsage().rss - before.rss;
      expect(grown).toBeLessThan(128 * 1024 * 1024);
    } finally {
      await endless.stop();
    }
  });

  it('no answer within the timeout is retryable', async () => {
    receiver = await new TestReceiver(() => ({ status: 200, body: okBody, delayMs: 3000 })).up();
    const started = Date.now();
    const r = await send(build(receiver.url, 300));
    expect(r).toMatchObject({ ok: false, retryable: true, error: 'timed out' });
    expect(Date.now() - started).toBeLessThan(2500);
  });
});

/**
 * A receiver that answers `status` with a body that does not end: 64 KiB chunks, as fast as the
 * client takes them, until it hangs up (or 256 MiB, so a client that reads everything still ends).
 */
async function endlessReceiver(status: number): Promise<{ url: string; sentBytes(): number; closed: Promise<void>; stop(): Promise<void> }> {
  let sent = 0;
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.on('close', resolveClosed);
    const pump = (): void => {
      while (!res.destroyed && sent < 256 * 1024 * 1024) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sentBytes: () => sent,
    closed,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
