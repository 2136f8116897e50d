import type { Command } from 'commander';
import { loadConfig } from '../../config/config.js';
import { DeadLetterReasons } from '../../errors/catalog.js';
import { ExitCode } from '../run.js';

/** The running service's HTTP API: replay goes through it so that one process owns the spool. */
function serviceUrl(opt: string | undefined): string {
  if (opt) return opt.replace(/\/+$/, '');
  const { http } = loadConfig(process.env);
  const host = http.host === '0.0.0.0' || http.host === '::' ? '127.0.0.1' : http.host;
  return `http://${host}:${http.port}`;
}

/** The bearer token replay needs (CITYPIPE_HTTP_TOKEN, the same value the service has). */
function authorization(): Record<string, string> {
  const { token } = loadConfig(process.env).http;
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

async function call(url: string, init?: RequestInit): Promise<unknown> {
  const headers = { ...authorization(), ...(init?.headers as Record<string, string> | undefined) };
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers, signal: AbortSignal.timeout(600_000) });
  } catch (err) {
    throw new Error(`cannot reach citypipe at ${new URL(url).origin} (${(err as Error).message}): is it running? Start it with \`npm start\`, or pass --url`);
  }
  const body = (await res.json().catch(() => ({}))) as { message?: string };
  if (!res.ok) throw new Error(`citypipe answered ${res.status}: ${body.message ?? JSON.stringify(body)}`);
  return body;
}

function checkReason(reason: string | undefined): void {
  if (reason !== undefined && !(DeadLetterReasons as readonly string[]).includes(reason)) {
    process.stderr.write(`citypipe dead-letters: --reason: unknown reason "${reason}"; one of ${DeadLetterReasons.join(', ')}\n`);
    process.exit(ExitCode.usage);
  }
}

/** `citypipe dead-letters list|replay`, against a running service. */
export function registerDeadLettersCommand(program: Command): void {
  const cmd = program.command('dead-letters').description('list or replay the readings that were not written (talks to the running service)');
  cmd
    .command('list')
    .description('list dead letters, newest first')
    .option('--reason <code>', 'only this reason, e.g. out_of_range')
    .option('--device <id>', 'only this device')
    .option('--limit <n>', 'at most this many', '20')
    .option('--json', 'print the API answer as JSON')
    .option('--url <url>', 'citypipe HTTP API (default: this machine, CITYPIPE_HTTP_PORT)')
    .action(async (opts: { reason?: string; device?: string; limit: string; json?: boolean; url?: string }) => {
      checkReason(opts.reason);
      const params = new URLSearchParams({ limit: opts.limit });
      if (opts.reason) params.set('reason', opts.reason);
      if (opts.device) params.set('device_id', opts.device);
      const body = (await call(`${serviceUrl(opts.url)}/api/dead-letters?${params}`)) as {
        total: number;
        items: { id: number; receivedAt: string; reason: string; deviceId: string | null; message: string }[];
      };
      if (opts.json) return void process.stdout.write(JSON.stringify(body) + '\n');
      for (const d of body.items) process.stdout.write(`${d.id}\t${d.receivedAt}\t${d.reason}\t${d.deviceId ?? '-'}\t${d.message}\n`);
      process.stdout.write(`${body.items.length} of ${body.total} shown\n`);
    });
  cmd
    .command('replay')
    .description('run stored dead letters through validation again (after fixing the catalog, a schema or InfluxDB); those that pass are written, the rest come back with their current reason')
    .option('--reason <code>', 'only dead letters with this reason, e.g. unknown_device')
    .option('--limit <n>', 'at most this many')
    .option('--json', 'print the API answer as JSON')
    .option('--url <url>', 'citypipe HTTP API (default: this machine, CITYPIPE_HTTP_PORT)')
    .action(async (opts: { reason?: string; limit?: string; json?: boolean; url?: string }) => {
      checkReason(opts.reason);
      const body = (await call(`${serviceUrl(opts.url)}/api/dead-letters/replay`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...(opts.reason ? { reason: opts.reason } : {}), ...(opts.limit ? { limit: Number(opts.limit) } : {}) }),
      })) as { replayed: number; skipped: { id: number; why: string }[]; stoppedBecause?: string };
      if (opts.json) return void process.stdout.write(JSON.stringify(body) + '\n');
      process.stdout.write(`replayed ${body.replayed} dead letters; they are validated again and written, or dead-lettered again with their current reason\n`);
      if (body.skipped.length) process.stdout.write(`skipped ${body.skipped.length}: ${[...new Set(body.skipped.map((s) => s.why))].join('; ')}\n`);
      if (body.stoppedBecause) {
        process.stderr.write(`stopped early: ${body.stoppedBecause}; run it again later\n`);
        process.exitCode = ExitCode.failure;
      }
    });
}
