/**
 * How often the service calls fdatasync and how long each call takes, from `perf trace -s` attached
 * to the service process for a measured span (Linux `perf` with access to the syscall tracepoints;
 * root here). Optional: without perf the figures are NaN and the run says why. Only fdatasync is
 * traced, and the kernel filters the other syscalls out, so it costs the service little; the bench
 * attaches it to both variants of the durability phase alike.
 *
 * Also the disk itself: a short fdatasync probe (`probeFdatasync`) on the filesystem the spool uses,
 * for what one sync costs on this machine at that moment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fdatasyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { stopChild } from '../src/process/stop-child.js';

export interface SyscallSummary {
  calls: number;
  /** Mean and max duration of one call, ms. */
  meanMs: number;
  maxMs: number;
  totalMs: number;
}

const PERF_CANDIDATES = ['/usr/bin/perf', '/usr/local/bin/perf'];

/** A running `perf trace -s -e <syscall> -p <pid>`; `stop()` ends it and sums its per-thread summary. */
export class SyscallTrace {
  private constructor(
    private readonly child: ChildProcess,
    private readonly out: string,
  ) {}

  /** Starts tracing, or returns the reason it cannot. */
  static async start(pid: number, syscall: string, outFile: string): Promise<SyscallTrace | string> {
    const perf = PERF_CANDIDATES.find((p) => existsSync(p));
    if (!perf) return 'perf is not installed (apt-get install linux-perf), so fdatasync calls were not counted';
    const stderr: string[] = [];
    const child = spawn(perf, ['trace', '-s', '-e', syscall, '-o', outFile, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => stderr.push(d));
    // perf needs a moment to attach; if it cannot (permissions), it exits at once.
    const exited = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 1000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve(true);
      });
      child.once('error', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (exited) return `perf trace could not attach (${stderr.join('').trim().split('\n')[0] ?? 'no output'}), so fdatasync calls were not counted`;
    return new SyscallTrace(child, outFile);
  }

  /** Stops tracing (SIGINT makes perf print its summary) and sums it over the process's threads. */
  async stop(syscall: string): Promise<SyscallSummary> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (this.child.exitCode === null && this.child.signalCode === null) await stopChild(this.child, 2000);
    let text = '';
    try {
      text = readFileSync(this.out, 'utf8');
    } catch {
      // no output: nothing traced
    }
    return parsePerfTraceSummary(text, syscall);
  }
}

/**
 * Sums `perf trace -s` lines such as
 * `   fdatasync   37   0   256.901   0.928   6.943   30.298   16.36%` (calls, errors, total, min, avg,
 * max, stddev; times in ms) over every thread of the summary.
 */
export function parsePerfTraceSummary(text: string, syscall: string): SyscallSummary {
  let calls = 0;
  let totalMs = 0;
  let maxMs = 0;
  const re = new RegExp(`^\\s*${syscall}\\s+(\\d+)\\s+\\d+\\s+([\\d.]+)\\s+[\\d.]+\\s+[\\d.]+\\s+([\\d.]+)`, 'gm');
  for (const m of text.matchAll(re)) {
    calls += Number(m[1]);
    totalMs += Number(m[2]);
    maxMs = Math.max(maxMs, Number(m[3]));
  }
  return { calls, totalMs: Math.round(totalMs), meanMs: calls > 0 ? Math.round((totalMs / calls) * 100) / 100 : Number.NaN, maxMs: Math.round(maxMs * 10) / 10 };
}

/**
 * What one append + fdatasync costs on the filesystem of `dir` right now: `count` times, write
 * `bytes` at the end of a file and fdatasync it (a spool group commit of that size, without the rest
 * of the service). Median and p99 in ms.
 */
export function probeFdatasync(dir: string, count = 100, bytes = 64 * 1024): { p50Ms: number; p99Ms: number; meanMs: number } {
  const file = path.join(dir, `fdatasync-probe-${process.pid}.bin`);
  const buf = Buffer.alloc(bytes, 0x5a);
  const fd = openSync(file, 'w');
  const ms: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      writeSync(fd, buf);
      fdatasyncSync(fd);
      ms.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  ms.sort((a, b) => a - b);
  const at = (p: number) => Math.round(ms[Math.min(ms.length - 1, Math.ceil((p / 100) * ms.length) - 1)]! * 100) / 100;
  return { p50Ms: at(50), p99Ms: at(99), meanMs: Math.round((ms.reduce((a, b) => a + b, 0) / ms.length) * 100) / 100 };
}
