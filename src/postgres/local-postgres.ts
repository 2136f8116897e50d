/**
 * A private PostgreSQL (Debian's `postgresql`, 15) for the tests and the bench: `initdb` in a temp dir, one
 * server on a free loopback port, trust authentication on loopback only. PostgreSQL refuses to run
 * as root, so when the run is root (CI) the cluster belongs to the `postgres` user the Debian package
 * creates, and both programs run through `runuser`. Without the package the run fails, saying how
 * to install it; nothing is skipped.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { stopChild } from '../process/stop-child.js';
import { freePort } from '../influxd/local-influxd.js';

const INSTALL_HINT = 'Install PostgreSQL 15 with `sudo apt-get install postgresql` (or `npm run setup -- --with-test-tools` as root).';

export interface LocalPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** The newest PostgreSQL server binaries Debian installed (/usr/lib/postgresql/<major>/bin). */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => /^\d+$/.test(d) && existsSync(path.join(root, d, 'bin', 'initdb'))) : [];
  if (majors.length === 0) throw new Error(`PostgreSQL server programs (initdb, postgres) not found under ${root}. ${INSTALL_HINT}`);
  majors.sort((a, b) => Number(b) - Number(a));
  return path.join(root, majors[0]!, 'bin');
}

function asPostgresUser(cmd: string, args: readonly string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, [...args]];
}

export async function startLocalPostgres(): Promise<LocalPostgres> {
  const bin = postgresBinDir();
  const root = mkdtempSync(path.join(tmpdir(), 'citypipe-test-pg-'));
  const dataDir = path.join(root, 'data');
  if (process.getuid?.() === 0) {
    let uid: number;
    let gid: number;
    try {
      uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    } catch {
      throw new Error(`running as root, and there is no \`postgres\` user to run PostgreSQL as (initdb refuses root). ${INSTALL_HINT}`);
    }
    chownSync(root, uid, gid);
  }
  const [initCmd, initArgs] = asPostgresUser(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-instructions']);
  try {
    execFileSync(initCmd, initArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`);
  }
  const port = await freePort('127.0.0.1');
  // The cluster is thrown away after the run: fsync off makes it quicker without changing what the
  // tests observe (they kill citypipe workers, never PostgreSQL).
  const [cmd, args] = asPostgresUser(path.join(bin, 'postgres'), [
    '-D', dataDir, '-p', String(port), '-k', root, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300', '-c', 'log_min_messages=fatal',
  ]);
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      rmSync(root, { recursive: true, force: true });
      throw new Error(`postgres exited with ${child.exitCode}: ${stderr}`);
    }
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      break;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) {
        await stopChild(child, 2000);
        rmSync(root, { recursive: true, force: true });
        throw new Error(`postgres did not accept connections on ${port} within 30 s: ${(err as Error).message} ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    stop: () =>
      (stopped ??= (async () => {
        await stopChild(child, 10_000);
        rmSync(root, { recursive: true, force: true });
      })()),
  };
}

let counter = 0;

/** A fresh database on a server this module started, for one test or bench run: its URL. */
export async function createPgDatabase(serverUrl: string, prefix = 'citypipe_test'): Promise<string> {
  const name = `${prefix}_${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}
