/**
 * The residents' phase's HTTP client (residents.ts): one process with a keep-alive pool, as a city's
 * proxy or an app's backend holds, sending GETs to a list of URLs in turn. Either as fast as the
 * pool gets answers (`rate` 0: what one client can get), or `rate` requests/s in windows of `onMs`
 * with `offMs` of nothing before, between and after them (10 ms ticks, caught up when a tick is late),
 * the servers in `targets` taking the windows in turn. A share of the requests revalidates: it
 * carries the ETag the client last got for its URL from that server.
 *
 * Usage: `node http-load.js '<HttpLoadConfig as JSON>'`. Prints one {@link HttpLoadResult} as JSON
 * and exits.
 */
import http from 'node:http';

export interface HttpLoadConfig {
  /** Base URLs (`http://127.0.0.1:port`); window w goes to targets[w % targets.length]. */
  targets: string[];
  urls: string[];
  /** Connections of the keep-alive pool. */
  connections: number;
  /** Requests per second; 0 = as fast as answers come back. */
  rate: number;
  windows: number;
  onMs: number;
  /** Nothing is sent for this long before the first window, between windows and after the last. */
  offMs: number;
  /** Every how many requests one carries If-None-Match (1: all, 2: every other, 0: none). */
  revalidateEvery: number;
}

/** One loaded window: from the first request sent to the last answer read (epoch ms). */
export interface HttpLoadWindow {
  target: string;
  from: number;
  to: number;
  answered: number;
}

/** The answers of one target: by HTTP status (0: the request failed), and their latency at the client. */
export interface HttpLoadAnswers {
  statuses: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface HttpLoadResult {
  /** When the first off period began and the last ended (epoch ms). */
  startedAt: number;
  endedAt: number;
  windows: HttpLoadWindow[];
  /** By target. */
  answers: Record<string, HttpLoadAnswers>;
  /** The client's own CPU time, ms. */
  cpuMs: number;
  firstError?: string;
}

const TICK_MS = 10;

function quantile(sorted: Float64Array, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : Number.NaN;
}

async function main(cfg: HttpLoadConfig): Promise<HttpLoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.connections });
  const etags = new Map<string, string>();
  const statuses = new Map<string, Record<string, number>>(cfg.targets.map((t) => [t, {}]));
  const latencies = new Map<string, number[]>(cfg.targets.map((t) => [t, []]));
  let firstError: string | undefined;
  let n = 0;
  let base = cfg.targets[0]!;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const url = base + cfg.urls[n % cfg.urls.length]!;
      const tag = cfg.revalidateEvery > 0 && n % cfg.revalidateEvery === 0 ? etags.get(url) : undefined;
      n++;
      const t0 = performance.now();
      const byStatus = statuses.get(base)!;
      const times = latencies.get(base)!;
      const done = (status: number) => {
        byStatus[status] = (byStatus[status] ?? 0) + 1;
        times.push(performance.now() - t0);
        resolve();
      };
      const req = http.get(url, { agent, headers: tag ? { 'if-none-match': tag } : {} }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          const etag = res.headers.etag;
          if (etag) etags.set(url, etag);
          done(res.statusCode ?? 0);
        });
      });
      req.on('error', (err) => {
        firstError ??= String(err);
        done(0);
      });
    });

  /** As fast as the pool answers: one request per connection in flight at all times. */
  const closedLoop = async (ms: number): Promise<number> => {
    const until = performance.now() + ms;
    let answered = 0;
    const lane = async () => {
      while (performance.now() < until) {
        await one();
        answered++;
      }
    };
    await Promise.all(Array.from({ length: cfg.connections }, lane));
    return answered;
  };

  /** `rate` requests/s for `ms`; resolves once every answer is read. */
  const paced = (ms: number): Promise<number> =>
    new Promise((resolve) => {
      const total = Math.round((cfg.rate * ms) / 1000);
      const perTick = Math.max(1, Math.round((cfg.rate * TICK_MS) / 1000));
      const t0 = performance.now();
      let sent = 0;
      let answered = 0;
      const tick = () => {
        const due = Math.min(total, Math.floor((cfg.rate * (performance.now() - t0)) / 1000) + perTick);
        for (; sent < due; sent++) void one().then(() => ++answered === total && resolve(answered));
        if (sent < total) setTimeout(tick, TICK_MS);
      };
      tick();
    });

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const cpu0 = process.cpuUsage();
  const startedAt = Date.now();
  const windows: HttpLoadWindow[] = [];
  for (let w = 0; w < cfg.windows; w++) {
    await sleep(cfg.offMs);
    base = cfg.targets[w % cfg.targets.length]!;
    const from = Date.now();
    const answered = cfg.rate > 0 ? await paced(cfg.onMs) : await closedLoop(cfg.onMs);
    windows.push({ target: base, from, to: Date.now(), answered });
  }
  await sleep(cfg.offMs);
  const endedAt = Date.now();
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  const answers: Record<string, HttpLoadAnswers> = {};
  for (const t of cfg.targets) {
    const sorted = Float64Array.from(latencies.get(t)!).sort();
    answers[t] = { statuses: statuses.get(t)!, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), maxMs: sorted.length ? sorted[sorted.length - 1]! : Number.NaN };
  }
  return {
    startedAt,
    endedAt,
    windows,
    answers,
    cpuMs: (cpu.user + cpu.system) / 1000,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

main(JSON.parse(process.argv[2] ?? '{}') as HttpLoadConfig).then(
  (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
  (err: unknown) => {
    process.stderr.write(`http-load: ${String(err)}\n`);
    process.exit(1);
  },
);
