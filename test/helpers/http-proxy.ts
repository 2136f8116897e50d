/**
 * A tiny real HTTP server for tests that need a misbehaving InfluxDB: each request is answered by
 * `decide` with a canned status, forwarded to the real server behind it, or left hanging.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  /** Path and query. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The body as sent (still gzipped if it was). */
  readonly body: Buffer;
  /** Date.now() when the request arrived. */
  readonly at: number;
}

export type ProxyAnswer =
  | { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string }
  | 'forward'
  | 'hang';

export interface TestHttpProxy {
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Listens on 127.0.0.1, port 0. `decide` gets each request and its 0-based index. */
export async function startHttpProxy(
  decide: (req: RecordedRequest, index: number) => ProxyAnswer,
  forwardTo?: string,
): Promise<TestHttpProxy> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: RecordedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks), at: Date.now() };
      const answer = decide(rec, requests.push(rec) - 1);
      if (answer === 'hang') return;
      if (answer !== 'forward') {
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
        return;
      }
      if (!forwardTo) throw new Error('startHttpProxy: forward without a target');
      // Hop-by-hop and framing headers are fetch's business; the rest (content-encoding included) passes.
      const skip = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive']);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === 'string' && !skip.has(k)) headers[k] = v;
      }
      const hasBody = rec.method !== 'GET' && rec.method !== 'HEAD';
      fetch(forwardTo + rec.url, { method: rec.method, headers, body: hasBody ? rec.body : undefined }).then(
        async (up) => {
          const body = Buffer.from(await up.arrayBuffer());
          const out: Record<string, string> = {};
          // fetch already decoded the body, so its length and encoding headers no longer apply.
          const drop = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive']);
          up.headers.forEach((v, k) => {
            if (!drop.has(k)) out[k] = v;
          });
          res.writeHead(up.status, out);
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(502);
          res.end(String(err));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
