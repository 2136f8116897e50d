/**
 * CPU and memory of the processes under test, read from /proc (Linux only, as is the bench).
 * `/proc/<pid>/stat` gives user+system CPU in clock ticks, `/proc/<pid>/status` the resident set.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on every Linux the bench targets). */
const CLK_TCK = (() => {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return v > 0 ? v : 100;
  } catch {
    return 100;
  }
})();

export interface ProcSnapshot {
  /** user + system CPU seconds so far. */
  cpuS: number;
  rssKb: number;
}

/** One process's CPU time and RSS now, or undefined when it has exited. */
export function readProc(pid: number): ProcSnapshot | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, i.e. 11 and 12 after the name and state.
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return { cpuS: ticks / CLK_TCK, rssKb: rss ? Number(rss[1]) : 0 };
  } catch {
    return undefined;
  }
}

/** The pid of a direct child of `parentPid` whose command name is `comm`, or undefined. */
export function findChildPid(parentPid: number, comm: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (name === comm && ppid === parentPid) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** Every process now living, as pid → (parent pid, command name). */
function processTable(): Map<number, { ppid: number; comm: string }> {
  const out = new Map<number, { ppid: number; comm: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.set(Number(entry), { ppid, comm });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** `root` and every process below it (children, their children, …). */
export function processTree(root: number): number[] {
  const table = processTable();
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, p] of table) if (p.ppid === tree[i]) tree.push(pid);
  return tree;
}

/**
 * The pid of the first process named `comm` below `parentPid` (at any depth: a server started
 * through `runuser` is its grandchild), or undefined.
 */
export function findDescendantPid(parentPid: number, comm: string): number | undefined {
  const table = processTable();
  return processTree(parentPid).find((pid) => pid !== parentPid && table.get(pid)?.comm === comm);
}

/**
 * CPU of a process tree whose members come and go (a database server forks a backend per
 * connection): the CPU each process living at the end used since the start. A process that
 * exited in between is not counted.
 */
export class TreeCpu {
  private readonly before = new Map<number, number>();

  constructor(private readonly root: number) {
    for (const pid of processTree(root)) this.before.set(pid, readProc(pid)?.cpuS ?? 0);
  }

  private readonly startedAt = performance.now();

  /**
   * CPU since the constructor, as a role of {@link ProcessSampler}'s figures; RSS is not given (NaN):
   * a sum over a server's processes would count its shared memory once per process.
   */
  stop(): ProcUsage {
    let s = 0;
    for (const pid of processTree(this.root)) {
      const now = readProc(pid)?.cpuS;
      if (now !== undefined) s += now - (this.before.get(pid) ?? 0);
    }
    const seconds = Math.max(0.001, (performance.now() - this.startedAt) / 1000);
    return { cpuPct: round((s / seconds) * 100, 0), cpuS: round(s, 2), rssPeakMb: Number.NaN };
  }
}

/** The soft and hard limits on open files of this process (children inherit them). */
export function openFileLimits(): { soft: number; hard: number } {
  const text = readFileSync('/proc/self/limits', 'utf8');
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  const parse = (v: string | undefined) => (v === undefined || v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v));
  return { soft: parse(m?.[1]), hard: parse(m?.[2]) };
}

/** CPU and RSS of one role (one or several processes) over a measured span. */
export interface ProcUsage {
  /** Average CPU over the span, in % of one core (200 % = both cores of this machine). */
  cpuPct: number;
  /** CPU seconds used over the span (user + system, all threads). */
  cpuS: number;
  /** Highest sampled RSS, MiB (summed over the role's processes). */
  rssPeakMb: number;
}

/**
 * Samples the RSS of named roles every `intervalMs` and their CPU time at start and stop. A role
 * whose processes have all exited keeps what was last seen.
 */
export class ProcessSampler {
  private readonly roles: Record<string, readonly number[]>;
  private readonly startCpu = new Map<string, number>();
  private readonly lastCpu = new Map<string, number>();
  private readonly peakRss = new Map<string, number>();
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(roles: Record<string, readonly number[]>) {
    this.roles = roles;
  }

  start(intervalMs = 200): this {
    this.startedAt = performance.now();
    for (const [role, pids] of Object.entries(this.roles)) {
      const s = this.read(pids);
      this.startCpu.set(role, s.cpuS);
      this.lastCpu.set(role, s.cpuS);
      this.peakRss.set(role, s.rssKb);
    }
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): Record<string, ProcUsage> {
    clearInterval(this.timer);
    this.sample();
    const seconds = Math.max(0.001, (performance.now() - this.startedAt) / 1000);
    const out: Record<string, ProcUsage> = {};
    for (const role of Object.keys(this.roles)) {
      const cpu = (this.lastCpu.get(role)! - this.startCpu.get(role)!) / seconds;
      out[role] = {
        cpuPct: round(cpu * 100, 0),
        cpuS: round(this.lastCpu.get(role)! - this.startCpu.get(role)!, 2),
        rssPeakMb: round(this.peakRss.get(role)! / 1024, 1),
      };
    }
    return out;
  }

  private sample(): void {
    for (const [role, pids] of Object.entries(this.roles)) {
      const s = this.read(pids);
      if (s.alive) this.lastCpu.set(role, s.cpuS);
      if (s.rssKb > this.peakRss.get(role)!) this.peakRss.set(role, s.rssKb);
    }
  }

  private read(pids: readonly number[]): { cpuS: number; rssKb: number; alive: boolean } {
    let cpuS = 0;
    let rssKb = 0;
    let alive = false;
    for (const pid of pids) {
      const p = readProc(pid);
      if (!p) continue;
      alive = true;
      cpuS += p.cpuS;
      rssKb += p.rssKb;
    }
    return { cpuS, rssKb, alive };
  }
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * Kernel TCP counters of this network namespace (/proc/net/netstat, TcpExt): `ListenOverflows`
 * counts connection attempts dropped because a listener's accept queue was full. System-wide, so
 * other work on the machine can add to it, but loopback connection storms are rare elsewhere.
 */
export function tcpCounters(): Record<string, number> {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = lines[i]!.split(/\s+/).slice(1);
    const values = lines[i + 1]!.split(/\s+/).slice(1).map(Number);
    return Object.fromEntries(names.map((n, k) => [n, values[k] ?? 0]));
  } catch {
    return {};
  }
}

/** Bytes a process caused to be written to storage so far (`/proc/<pid>/io` write_bytes), or NaN. */
export function writeBytes(pid: number): number {
  try {
    const m = /^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
