/**
 * `CITYPIPE_HTTP_TRUST_PROXY`: which peers may tell the HTTP API who the client is (X-Forwarded-For).
 * The value goes to Fastify's `trustProxy` unchanged in meaning, so `req.ip` is the client's address
 * when (and only when) the request came through a trusted proxy; the per-address rate limit and the
 * event-stream caps key on `req.ip`.
 *
 * | value | meaning |
 * |---|---|
 * | `false` (default) | X-Forwarded-For is ignored: the client is the TCP peer |
 * | a comma-separated list of addresses, CIDRs or `loopback` / `linklocal` / `uniquelocal` | peers in the list are proxies: the client is the last X-Forwarded-For address that is not one of them |
 * | a hop count `1`..`32` | the client is the address that many hops back, whoever connected |
 * | `true` | the client is the first X-Forwarded-For address, whoever connected |
 *
 * The last two believe whatever a client sends when it can reach the port without the proxy.
 */
import { isIP } from 'node:net';

/** What Fastify's `trustProxy` takes, as far as citypipe uses it. */
export type TrustProxy = boolean | number | readonly string[];

/** proxy-addr's named ranges (Fastify's trustProxy understands them). */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);
const MAX_HOPS = 32;

const FIX = 'expected false, true, a hop count 1..32, or a comma-separated list of proxy addresses or CIDRs such as 127.0.0.1,10.0.0.0/8 (or loopback, linklocal, uniquelocal)';

/** Parses the setting; `message` says what is wrong and how to write it. */
export function parseTrustProxy(raw: string): { ok: true; value: TrustProxy } | { ok: false; message: string } {
  const v = raw.trim();
  if (v === '' || v === 'false') return { ok: true, value: false };
  if (v === 'true') return { ok: true, value: true };
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    if (hops === 0) return { ok: true, value: false };
    if (hops > MAX_HOPS) return { ok: false, message: `a hop count must be 1..${MAX_HOPS}; ${FIX}` };
    return { ok: true, value: hops };
  }
  const entries = v.split(',').map((s) => s.trim());
  for (const entry of entries) {
    const problem = entryProblem(entry);
    if (problem) return { ok: false, message: `${problem}; ${FIX}` };
  }
  return { ok: true, value: Object.freeze(entries) };
}

/** True when the setting lets any client choose the address it is counted under (the start-up warning). */
export function trustsAnyPeer(value: TrustProxy): boolean {
  return value === true || typeof value === 'number';
}

function entryProblem(entry: string): string | undefined {
  if (entry === '') return 'an empty entry in the list';
  if (NAMED_RANGES.has(entry)) return undefined;
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return `"${entry}" is not an IP address or CIDR`;
  if (slash === -1) return undefined;
  const prefix = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${entry}": the prefix length after / must be 0..${max}`;
  return undefined;
}
