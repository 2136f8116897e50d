/**
 * Reads a V8 `.cpuprofile` (what `node --cpu-prof` writes) and ranks functions by self time, the
 * view that points at a hot path to fix.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTime {
  /** `name (file:line)`, the file relative to node_modules or the package where possible. */
  fn: string;
  selfMs: number;
  /** Share of all samples, %. */
  pct: number;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || '(anonymous)';
  if (!url) return name;
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('node_modules/');
  const short = nm >= 0 ? file.slice(nm + 'node_modules/'.length) : file.includes('/dist/') ? file.slice(file.indexOf('/dist/') + 1) : file;
  return `${name} (${short}:${lineNumber + 1})`;
}

/**
 * Where a function lives, coarsely: an npm package, a citypipe source folder (`src/ingest`), Node's
 * own code, or V8's pseudo-frames (garbage collector, idle, program). Self time summed this way says
 * which part of the code a fix belongs to.
 */
function moduleOf(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (!url) return functionName.startsWith('(') ? functionName : `native ${functionName || '(anonymous)'}`;
  if (url.startsWith('node:')) return 'node: (runtime)';
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = file.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const m = /\/dist\/((?:src|bench|simulators)\/[^/]+)/.exec(file);
  if (m) return m[1]!.replace(/\.js$/, '');
  return file;
}

/**
 * Part of a profile, in µs after its start (the profile's own clock). `windowBeforeEnd` makes one
 * from wall-clock times, given when the profiled process ended (its profile ends then).
 */
export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

/** The window [fromMs, toMs] (Date.now() times) of a profile whose process ended at `endedAtMs`. */
export function windowBeforeEnd(profile: CpuProfile, endedAtMs: number, fromMs: number, toMs: number): ProfileWindow {
  const length = profile.endTime - profile.startTime;
  return { fromUs: length - (endedAtMs - fromMs) * 1000, toUs: length - (endedAtMs - toMs) * 1000 };
}

/** The `top` functions by self time, summed over every node of the same function. */
export function topSelfTime(profile: CpuProfile, top: number, window?: ProfileWindow): SelfTime[] {
  return rank(profile, label, top, window);
}

/** Self time by module (see {@link moduleOf}): npm package, citypipe folder, runtime, GC. */
export function selfTimeByModule(profile: CpuProfile, top: number, window?: ProfileWindow): SelfTime[] {
  return rank(profile, moduleOf, top, window);
}

function rank(profile: CpuProfile, keyOf: (node: ProfileNode) => string, top: number, window?: ProfileWindow): SelfTime[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  if (profile.samples && profile.timeDeltas) {
    // Each sample's time is the delta to the next one.
    const { samples, timeDeltas } = profile;
    let at = 0;
    for (let i = 0; i < samples.length; i++) {
      at += timeDeltas[i] ?? 0;
      const dt = timeDeltas[i + 1] ?? 0;
      if (window && (at < window.fromUs || at >= window.toUs)) continue;
      const node = byId.get(samples[i]!);
      if (!node) continue;
      const key = keyOf(node);
      selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
      totalUs += dt;
    }
  } else {
    const hits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0) || 1;
    const per = (profile.endTime - profile.startTime) / hits;
    for (const n of profile.nodes) {
      const us = (n.hitCount ?? 0) * per;
      selfUs.set(keyOf(n), (selfUs.get(keyOf(n)) ?? 0) + us);
      totalUs += us;
    }
  }
  return [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, selfMs: Math.round(us / 1000), pct: totalUs ? Math.round((us / totalUs) * 1000) / 10 : 0 }));
}

/** The newest `.cpuprofile` in `dir`, parsed, or undefined. */
export function newestProfile(dir: string): { file: string; profile: CpuProfile } | undefined {
  let newest: { file: string; mtime: number } | undefined;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.cpuprofile')) continue;
    const file = path.join(dir, f);
    const mtime = statSync(file).mtimeMs;
    if (!newest || mtime > newest.mtime) newest = { file, mtime };
  }
  if (!newest) return undefined;
  return { file: newest.file, profile: JSON.parse(readFileSync(newest.file, 'utf8')) as CpuProfile };
}
