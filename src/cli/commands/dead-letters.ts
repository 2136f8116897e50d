/**
 * `citypipe dead-letters list | replay`, against a running service: replay goes through its HTTP API
 * so that one process owns the spool.
 *
 * `replayInChunks` takes the API as an interface and its progress as a callback, so tests drive it
 * without a service.
 */
import type { Command } from 'commander';
import { loadConfig } from '../../config/config.js';
import { DeadLetterReasons } from '../../errors/catalog.js';
import { stderrColours, stdoutColours } from '../colour.js';
import { catchInterruption, CliError, ExitCode, reportWarning } from '../run.js';
import { StatusLine } from '../status-line.js';

/** One dead letter as `GET /api/dead-letters` lists it. */
export interface DeadLetterItem {
  id: number;
  receivedAt: string;
  reason: string;
  deviceId: string | null;
  message: string;
}

/** What `GET /api/dead-letters` answers. */
export interface DeadLetterPage {
  total: number;
  items: DeadLetterItem[];
}

/** What `POST /api/dead-letters/replay` answers. */
export interface ReplayAnswer {
  replayed: number;
  skipped: { id: number; why: string }[];
  stoppedBecause?: string;
}

/** The two endpoints the command uses. */
export interface DeadLettersApi {
  list(q: { reason?: string | undefined; deviceId?: string | undefined; limit: number }): Promise<DeadLetterPage>;
  replay(q: { reason?: string | undefined; limit: number }): Promise<ReplayAnswer>;
}

/** The service's HTTP API at `baseUrl`; errors carry the exit code they mean. */
export function httpDeadLettersApi(baseUrl: string, token: string | undefined): DeadLettersApi {
  const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const call = async (pathAndQuery: string, init?: RequestInit): Promise<unknown> => {
    const url = `${baseUrl}${pathAndQuery}`;
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers: { ...auth, ...(init?.headers as Record<string, string> | undefined) }, signal: AbortSignal.timeout(600_000) });
    } catch (err) {
      throw new CliError(
        ExitCode.unavailable,
        `cannot reach citypipe at ${baseUrl} (${(err as Error).message}): is it running? Start it with \`npm start\`, or pass --url`,
        { cause: err },
      );
    }
    const text = await res.text();
    let body: { message?: string; code?: string } | undefined;
    try {
      body = JSON.parse(text) as { message?: string };
    } catch {
      body = undefined;
    }
    if (res.ok && body !== undefined) return body;
    const said = body?.message ?? text.slice(0, 200);
    if (res.status === 401 || res.status === 403) {
      throw new CliError(ExitCode.usage, `citypipe at ${baseUrl} answered ${res.status}: ${said}; set CITYPIPE_HTTP_TOKEN to the service's token`);
    }
    if (res.status === 400) throw new CliError(ExitCode.usage, `citypipe at ${baseUrl} refused the request: ${said}`);
    // Something else answers at that address, or the service is busy or going away.
    if (body === undefined || res.status === 404 || res.status === 429 || res.status === 502 || res.status === 503 || res.status === 504) {
      throw new CliError(ExitCode.unavailable, `no citypipe API at ${url} (HTTP ${res.status}${said ? `: ${said}` : ''}); check --url or CITYPIPE_HTTP_PORT`);
    }
    throw new CliError(ExitCode.failure, `citypipe answered ${res.status}: ${said}`);
  };
  return {
    list: async (q) => {
      const params = new URLSearchParams({ limit: String(q.limit) });
      if (q.reason) params.set('reason', q.reason);
      if (q.deviceId) params.set('device_id', q.deviceId);
      return (await call(`/api/dead-letters?${params}`)) as DeadLetterPage;
    },
    replay: async (q) =>
      (await call('/api/dead-letters/replay', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...(q.reason ? { reason: q.reason } : {}), limit: q.limit }),
      })) as ReplayAnswer,
  };
}

/** What a chunked replay did, as `--json` prints it. */
export interface ChunkedReplayResult {
  /** Dead letters there were to replay when it began (at most --limit). */
  total: number;
  replayed: number;
  /** Left as they are, each once. */
  skipped: { id: number; why: string }[];
  stoppedBecause?: string;
  /** True when Ctrl-C/SIGTERM ended it between two chunks. */
  interrupted?: boolean;
}

/**
 * Replays the oldest `limit` dead letters (all when unset), `chunk` per request, reporting after each.
 *
 * The endpoint always starts from the oldest dead letter and counts the ones it skips (which stay)
 * against its limit; replayed ones are deleted, and those still refused come back with new, higher
 * ids. So each request asks for the skips seen so far plus one more chunk, and the loop stops once
 * as many as there were at the start are done: it never replays a dead letter it made itself.
 */
export async function replayInChunks(
  api: DeadLettersApi,
  q: { reason?: string | undefined; limit?: number | undefined; chunk: number },
  hooks: { progress?: (done: number, total: number) => void; interrupted?: () => boolean } = {},
): Promise<ChunkedReplayResult> {
  const { total: available } = await api.list({ reason: q.reason, limit: 1 });
  const total = q.limit === undefined ? available : Math.min(q.limit, available);
  const skipped = new Map<number, string>();
  const result: ChunkedReplayResult = { total, replayed: 0, skipped: [] };
  const done = () => result.replayed + skipped.size;
  hooks.progress?.(0, total);
  while (done() < total) {
    if (hooks.interrupted?.()) {
      result.interrupted = true;
      break;
    }
    const answer = await api.replay({ reason: q.reason, limit: skipped.size + Math.min(q.chunk, total - done()) });
    result.replayed += answer.replayed;
    let fresh = 0;
    for (const s of answer.skipped) {
      if (skipped.has(s.id)) continue;
      skipped.set(s.id, s.why);
      fresh++;
    }
    hooks.progress?.(Math.min(done(), total), total);
    if (answer.stoppedBecause !== undefined) {
      result.stoppedBecause = answer.stoppedBecause;
      break;
    }
    // Nothing new: the rest went meanwhile (another replay, the store's cap).
    if (answer.replayed === 0 && fresh === 0) break;
  }
  result.skipped = [...skipped].map(([id, why]) => ({ id, why }));
  return result;
}

/** The one line a human gets at the end of a replay. */
export function replaySummary(r: ChunkedReplayResult): string {
  const whys = [...new Set(r.skipped.map((s) => s.why))].join('; ');
  const skipped = r.skipped.length ? `, skipped ${r.skipped.length} (${whys})` : '';
  const outcome = r.replayed > 0 ? '; they were validated again: written, or dead-lettered again with their current reason' : '';
  return `replayed ${r.replayed} of ${r.total} dead letters${skipped}${outcome}${r.interrupted ? '; interrupted, run it again for the rest' : ''}`;
}

/** The running service's HTTP API. */
function serviceUrl(opt: string | undefined): string {
  if (opt) return opt.replace(/\/+$/, '');
  const { http } = loadConfig(process.env);
  const host = http.host === '0.0.0.0' || http.host === '::' ? '127.0.0.1' : http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${http.port}`;
}

function apiFor(url: string | undefined): DeadLettersApi {
  // The bearer token replay needs: CITYPIPE_HTTP_TOKEN, the same value the service has.
  return httpDeadLettersApi(serviceUrl(url), loadConfig(process.env).http.token);
}

function checkReason(reason: string | undefined): void {
  if (reason !== undefined && !(DeadLetterReasons as readonly string[]).includes(reason)) {
    throw new CliError(ExitCode.usage, `dead-letters: --reason: unknown reason "${reason}"; one of ${DeadLetterReasons.join(', ')}`);
  }
}

function wholeNumber(text: string | undefined, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new CliError(ExitCode.usage, `dead-letters: ${name}: expected a whole number 1..${max}, got ${JSON.stringify(text)}`);
  return n;
}

/** Default dead letters per replay request: one HTTP round trip, a few hundred ms of work. */
export const DEFAULT_REPLAY_CHUNK = 500;

/** Adds `dead-letters list|replay` to the program. */
export function registerDeadLettersCommand(program: Command): void {
  const cmd = program
    .command('dead-letters')
    .description('list or replay the readings that were not written (talks to the running service)')
    .addHelpText(
      'after',
      `
Both talk to a running citypipe (this machine, CITYPIPE_HTTP_PORT, or --url); exit 3 when none answers.`,
    );
  cmd
    .command('list')
    .description('list dead letters, newest first: id, received, reason, device, message (tab-separated)')
    .option('--reason <code>', 'only this reason, e.g. out_of_range')
    .option('--device <id>', 'only this device')
    .option('--limit <n>', 'at most this many, 1..1000', '20')
    .option('--json', 'print the API answer as JSON')
    .option('--url <url>', 'citypipe HTTP API (default: this machine, CITYPIPE_HTTP_PORT)')
    .addHelpText(
      'after',
      `
Examples
  npx citypipe dead-letters list
  npx citypipe dead-letters list --reason unknown_device --limit 100
  npx citypipe dead-letters list --json --url http://citypipe.internal:8080 | jq '.items[].message'`,
    )
    .action(async (opts: { reason?: string; device?: string; limit: string; json?: boolean; url?: string }) => {
      checkReason(opts.reason);
      const limit = wholeNumber(opts.limit, '--limit', 1000)!;
      const body = await apiFor(opts.url).list({ reason: opts.reason, deviceId: opts.device, limit });
      if (opts.json) return void process.stdout.write(JSON.stringify(body) + '\n');
      for (const d of body.items) process.stdout.write(`${d.id}\t${d.receivedAt}\t${d.reason}\t${d.deviceId ?? '-'}\t${d.message}\n`);
      process.stdout.write(stdoutColours().dim(`${body.items.length} of ${body.total} shown`) + '\n');
    });
  cmd
    .command('replay')
    .description('run stored dead letters through validation again (after fixing the catalog, a schema or InfluxDB), oldest first; those that pass are written, the rest come back with their current reason')
    .option('--reason <code>', 'only dead letters with this reason, e.g. unknown_device')
    .option('--limit <n>', 'at most this many (default: all)')
    .option('--chunk <n>', 'dead letters per request to the service', String(DEFAULT_REPLAY_CHUNK))
    .option('--json', 'print {"total","replayed","skipped","stoppedBecause"?,"interrupted"?} only')
    .option('--url <url>', 'citypipe HTTP API (default: this machine, CITYPIPE_HTTP_PORT)')
    .addHelpText(
      'after',
      `
On a terminal, "replayed N of M" on stderr while it runs; always one summary line at the end.
Ctrl-C stops it after the chunk in flight (exit 130); the rest can be replayed later.
Exit 1 when the service stopped the replay early (e.g. its spool is full).

Examples
  npx citypipe dead-letters replay --reason unknown_device
  npx citypipe dead-letters replay --limit 10000 --chunk 1000
  npx citypipe dead-letters replay --json > replay.json`,
    )
    .action(async (opts: { reason?: string; limit?: string; chunk: string; json?: boolean; url?: string }) => {
      checkReason(opts.reason);
      const limit = wholeNumber(opts.limit, '--limit');
      const chunk = wholeNumber(opts.chunk, '--chunk')!;
      const api = apiFor(opts.url);
      const line = new StatusLine(process.stderr, stderrColours());
      const interruption = catchInterruption();
      let result: ChunkedReplayResult;
      try {
        result = await replayInChunks(
          api,
          { reason: opts.reason, limit, chunk },
          { progress: (done, total) => line.draw(line.counter('replayed', done, total, 'dead letters')), interrupted: () => interruption.signal !== undefined },
        );
      } finally {
        line.clear();
        interruption.dispose();
      }
      if (opts.json) process.stdout.write(JSON.stringify(result) + '\n');
      else process.stdout.write(replaySummary(result) + '\n');
      if (result.stoppedBecause !== undefined) {
        reportWarning(`citypipe: replay stopped early: ${result.stoppedBecause}; run it again later`);
        process.exitCode = ExitCode.failure;
      }
      if (result.interrupted) process.exitCode = interruption.exitCode;
    });
}
