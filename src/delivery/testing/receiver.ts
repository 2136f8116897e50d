/**
 * A real HTTP receiver on 127.0.0.1 for delivery tests: records every request and answers with
 * whatever the test's `respond` says. It can go down (connection refused) and come back on the same
 * port.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** Epoch ms when the body was complete. */
  readonly at: number;
}

export interface Answer {
  readonly status: number;
  readonly body?: string | undefined;
  readonly headers?: Record<string, string> | undefined;
  /** Wait this long before answering. */
  readonly delayMs?: number | undefined;
}

export type Respond = (req: ReceivedRequest, index: number) => Answer;

export class TestReceiver {
  readonly requests: ReceivedRequest[] = [];
  respond: Respond;
  private server: Server | undefined;
  private port = 0;
  private readonly waiters: { n: number; resolve: () => void }[] = [];

  constructor(respond: Respond = () => ({ status: 204 })) {
    this.respond = respond;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on an ephemeral port the first time, then on that same port again. */
  async up(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const got: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
        const index = this.requests.length;
        this.requests.push(got);
        const answer = this.respond(got, index);
        const send = (): void => {
          if (res.destroyed) return;
          res.writeHead(answer.status, answer.headers ?? {});
          res.end(answer.body ?? '');
        };
        if (answer.delayMs) setTimeout(send, answer.delayMs);
        else send();
        for (const w of this.waiters.filter((w) => this.requests.length >= w.n)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve();
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Stops listening and drops open connections: the next attempt gets ECONNREFUSED. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves once `n` requests in all have arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs = 15_000): Promise<void> {
    if (this.requests.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`receiver got ${this.requests.length} of ${n} requests in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

/** Resolves when `check` returns true; polls every 10 ms; rejects after `timeoutMs` with `what`. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
