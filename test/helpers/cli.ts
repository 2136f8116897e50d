/**
 * Runs citypipe as a user does, `node bin/citypipe.js <command>` (what `npm start` runs), as a
 * child process configured by its environment. Needs dist/ (npm test builds it in pretest).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './wait.js';

export const root = path.resolve(import.meta.dirname, '..', '..');
const cli = path.join(root, 'bin', 'citypipe.js');

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

/** Kills every child this module started that is still running (call in afterEach/afterAll). */
export function killChildren(): void {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

export function spawnCli(args: string[], env: Record<string, string>): CliProcess {
  if (!existsSync(path.join(root, 'dist', 'src', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does it in pretest)');
  }
  const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

export interface StartedService extends CliProcess {
  mqttPort: number;
  httpPort: number;
}

/** `citypipe start`, resolved once it logs "citypipe started" (with its real ports). */
export async function startServiceProcess(env: Record<string, string>): Promise<StartedService> {
  const p = spawnCli(['start'], { ...env, CITYPIPE_LOG_LEVEL: env.CITYPIPE_LOG_LEVEL === 'silent' || !env.CITYPIPE_LOG_LEVEL ? 'info' : env.CITYPIPE_LOG_LEVEL });
  const started = await waitFor(
    '"citypipe started" log line',
    () => {
      if (p.child.exitCode !== null) throw new Error(`citypipe exited with ${p.child.exitCode}: ${p.stderr()}`);
      const line = p
        .stdout()
        .split('\n')
        .find((l) => l.includes('"citypipe started"'));
      return line ? (JSON.parse(line) as { mqttPort: number; httpPort: number }) : undefined;
    },
    20_000,
  );
  return { ...p, mqttPort: started.mqttPort, httpPort: started.httpPort };
}

/** Log lines (JSON) of a child whose message matches. */
export function logLines(p: CliProcess, match: RegExp): Record<string, unknown>[] {
  return p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{') && match.test(l))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
