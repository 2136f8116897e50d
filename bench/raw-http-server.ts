/**
 * The raw baseline of the residents' phase (residents.ts): a bare node:http server that answers the
 * bytes citypipe answered, with the same headers, from memory: 304 without a body when If-None-Match
 * names the ETag. No framework, no hooks, no rate limit: what node itself costs per answer here.
 *
 * Usage: `node raw-http-server.js <answers.json>` (a {@link RawAnswer} list). Prints `{"port":N}`
 * once it listens on 127.0.0.1; exits when stdin closes.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';

export interface RawAnswer {
  url: string;
  /** The body, base64. */
  body: string;
  /** The response headers as citypipe sent them (without date, connection, keep-alive, content-length). */
  headers: Record<string, string>;
}

const answers = new Map(
  (JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as RawAnswer[]).map((a) => [a.url, { body: Buffer.from(a.body, 'base64'), headers: a.headers, etag: a.headers.etag }]),
);

const server = http.createServer((req, res) => {
  const a = answers.get(req.url ?? '');
  if (!a) {
    res.writeHead(404).end();
    return;
  }
  if (a.etag !== undefined && req.headers['if-none-match'] === a.etag) {
    res.writeHead(304, a.headers).end();
    return;
  }
  res.writeHead(200, { ...a.headers, 'content-length': a.body.length }).end(a.body);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
