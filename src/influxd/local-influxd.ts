/**
 * Runs a private InfluxDB 1.x (`influxd`) on loopback for `citypipe demo` and the test harness.
 * Its data lives under `dataDir` and survives restarts, so the demo's history accumulates.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { stopChild } from '../process/stop-child.js';

/** A running local influxd. */
export interface LocalInfluxd {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** SIGTERM, then SIGKILL if it has not exited in time. Safe to call twice. */
  stop(): Promise<void>;
}

export interface LocalInfluxdOptions {
  /** Holds the config file and the meta/data/wal directories; created when missing, reused when present. */
  dataDir: string;
  /** Loopback address to bind; default 127.0.0.1. */
  host?: string;
  /** HTTP port; 0 (default) picks a free one. */
  port?: number;
  log?: Logger;
  /** The executable; default `influxd` looked up on PATH. */
  binary?: string;
  /** How long to wait for `/ping` to answer 204; default 30 s. */
  readyTimeoutMs?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL; default 10 s. */
  stopTimeoutMs?: number;
}

const INSTALL_HINT =
  'Install InfluxDB 1.x with `sudo apt-get install influxdb` on Debian/Ubuntu (or run `npm run setup` as root), ' +
  'or set CITYPIPE_INFLUX_URL to a running InfluxDB.';

/** Lines of influxd's stderr kept for the error message when it fails to start. */
const STDERR_TAIL_LINES = 20;

/**
 * Starts influxd and resolves once it answers `GET /ping`. Throws `CP_ERR_INFLUXD_MISSING` when the
 * binary is not installed and `CP_ERR_INFLUXD_START` (with influxd's last stderr lines) when it exits
 * or stays silent.
 */
export async function startLocalInfluxd(opts: LocalInfluxdOptions): Promise<LocalInfluxd> {
  const log = (opts.log ?? silentLogger).child({ stage: 'local-influxd' });
  const host = opts.host ?? '127.0.0.1';
  // A port we picked can be taken by someone else before influxd binds it; pick again then.
  const attempts = opts.port ? 1 : 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts, host, log);
    } catch (err) {
      const portRace = err instanceof PortTakenError;
      if (!portRace || attempt >= attempts) throw portRace ? err.startError : err;
      log.warn({ attempt }, 'the port picked for influxd was taken; trying another');
    }
  }
}

class PortTakenError extends Error {
  constructor(readonly startError: CitypipeError) {
    super(startError.message);
  }
}

async function startOnce(opts: LocalInfluxdOptions, host: string, log: Logger): Promise<LocalInfluxd> {
  const httpPort = opts.port || (await freePort(host));
  const rpcPort = await freePort(host, httpPort);
  const configPath = join(opts.dataDir, 'influxd.conf');
  await mkdir(opts.dataDir, { recursive: true });
  await writeFile(configPath, influxdConfig(opts.dataDir, host, httpPort, rpcPort));

  const url = `http://${host}:${httpPort}`;
  // Its own process group: Ctrl-C in a terminal signals the whole foreground group, and influxd must
  // outlive citypipe's graceful stop, which still writes to it. citypipe stops it last.
  const child = spawn(opts.binary ?? 'influxd', ['run', '-config', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  // Whatever way citypipe exits, the influxd it started goes with it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const stderrTail: string[] = [];
  let partial = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      stderrTail.push(line);
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
      log.debug({ influxd: line }, 'influxd');
    }
  });

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: NodeJS.ErrnoException }>(
    (resolve) => {
      child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, signal: null, error }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    },
  );

  const early = await Promise.race([
    exited.then((e) => ({ exited: e })),
    waitForPing(url, opts.readyTimeoutMs ?? 30_000, exited).then((ready) => ({ ready })),
  ]);

  if ('exited' in early) {
    const { code, signal, error } = early.exited;
    if (error?.code === 'ENOENT') {
      throw new CitypipeError(
        ErrorCodes.INFLUXD_MISSING,
        `\`${opts.binary ?? 'influxd'}\` was not found on PATH. ${INSTALL_HINT}`,
        { cause: error },
      );
    }
    const tail = stderrTail.concat(partial ? [partial] : []).join('\n');
    const startError = new CitypipeError(
      ErrorCodes.INFLUXD_START,
      `influxd (config ${configPath}) ${error ? `could not be started: ${error.message}` : `exited with ${signal ?? `code ${code}`}`} ` +
        `before answering ${url}/ping. Its last output:\n${tail || '(none)'}`,
      { cause: error },
    );
    if (!opts.port && /address already in use/i.test(tail)) throw new PortTakenError(startError);
    throw startError;
  }

  const stop = stopper(child, opts.stopTimeoutMs ?? 10_000, log);
  let stopRequested = false;
  void exited.then(({ code, signal }) => {
    // A crash after start-up would otherwise only show as write errors; say where to look.
    if (!stopRequested && early.ready) {
      log.error({ code, signal, url }, `local influxd exited unexpectedly; its last output:\n${stderrTail.join('\n')}`);
    }
  });
  if (!early.ready) {
    stopRequested = true;
    await stop();
    throw new CitypipeError(
      ErrorCodes.INFLUXD_START,
      `influxd (config ${configPath}) did not answer ${url}/ping within ${Math.round((opts.readyTimeoutMs ?? 30_000) / 1000)} s; ` +
        `is another influxd using ${opts.dataDir}? Its last output:\n${stderrTail.join('\n') || '(none)'}`,
    );
  }
  log.info({ url, dataDir: opts.dataDir }, 'local influxd is ready');
  return {
    url,
    port: httpPort,
    dataDir: opts.dataDir,
    stop: () => {
      stopRequested = true;
      return stop();
    },
  };
}

function stopper(child: ChildProcess, timeoutMs: number, log: Logger): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= stopChild(child, timeoutMs, () => log.warn({ pid: child.pid, timeoutMs }, 'influxd ignored SIGTERM; sending SIGKILL'));
    return stopping;
  };
}

/** Resolves true once `/ping` answers 204, false after `timeoutMs` or when the process has exited. */
async function waitForPing(url: string, timeoutMs: number, exited: Promise<unknown>): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!gone && Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status === 204) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** A port that was free a moment ago (the kernel's pick for port 0), different from `other`. */
/** A port the kernel just handed out on `host` and took back (not `other`). */
export async function freePort(host: string, other?: number): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, host, () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
      });
    });
    if (port !== other) return port;
  }
}

/** TOML string with `\` and `"` escaped, for paths. */
function tomlString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Only what differs from influxd 1.6's defaults: everything on loopback, no phoning home, no
 * `_internal` monitor database, and no per-request or per-query log lines (they would drown the
 * demo's own output and slow the tests).
 */
function influxdConfig(dataDir: string, host: string, httpPort: number, rpcPort: number): string {
  return `# Written by citypipe on every start; edits are overwritten.
reporting-disabled = true
bind-address = ${tomlString(`${host}:${rpcPort}`)}

[meta]
  dir = ${tomlString(join(dataDir, 'meta'))}
  logging-enabled = false

[data]
  dir = ${tomlString(join(dataDir, 'data'))}
  wal-dir = ${tomlString(join(dataDir, 'wal'))}
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  bind-address = ${tomlString(`${host}:${httpPort}`)}
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false

[continuous_queries]
  log-enabled = false

[logging]
  level = "warn"
  suppress-logo = true
`;
}
