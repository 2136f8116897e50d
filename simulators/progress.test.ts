import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FleetStats } from './fleet.js';
import { ProgressDisplay, type ProgressStream } from './progress.js';

const base: FleetStats = {
  devices: 40,
  connected: 38,
  connections: 38,
  published: 0,
  batches: 0,
  buffered: 0,
  skipped: 0,
  errors: 2,
  inFlight: 0,
  simTimeMs: Date.parse('2026-06-18T10:15:00Z'),
  speed: 60,
  caughtUp: false,
};

function sink(isTTY: boolean, columns?: number): ProgressStream & { text: string } {
  const out = { isTTY, columns, text: '', write: (t: string) => void (out.text += t) };
  return out;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ProgressDisplay', () => {
  it('prints plain key=value lines when not on a terminal: no escape codes, no carriage returns', () => {
    vi.useFakeTimers();
    const out = sink(false);
    let now = 0;
    let stats = { ...base };
    const p = new ProgressDisplay(out, () => stats, { plainIntervalMs: 10_000, now: () => now });
    p.start();
    stats = { ...stats, published: 1250, buffered: 7, batches: 1 };
    now += 10_000;
    vi.advanceTimersByTime(10_000);
    now += 10_000;
    stats = { ...stats, published: 2500, caughtUp: true };
    p.stop();

    expect(out.text).not.toMatch(/[\r\x1b]/);
    const lines = out.text.split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1)).toHaveLength(3);
    expect(lines[1]).toBe(
      'progress connected=38/40 connections=38 rate=125/s published=1250 batches=1 buffered=7 skipped=0 errors=2 sim=2026-06-18T10:15:00Z speed=60 live=false',
    );
    expect(lines[2]).toContain('live=true');
  });

  it('redraws one status line in place on a terminal, cut to its width', () => {
    const out = sink(true, 200);
    let now = 0;
    let stats = { ...base };
    const p = new ProgressDisplay(out, () => stats, { now: () => now });
    p.update();
    now += 2_000;
    stats = { ...stats, published: 10 };
    p.update();
    expect(out.text).not.toContain('\n');
    const frames = out.text.split('\r\x1b[2K').filter(Boolean);
    expect(frames).toHaveLength(2);
    expect(frames[1]).toBe('38/40 devices connected · 5.0 readings/s · 10 sent · 2 errors · sim 2026-06-18 10:15 UTC ×60');

    const narrow = sink(true, 30);
    new ProgressDisplay(narrow, () => stats).update();
    expect(narrow.text.replace('\r\x1b[2K', '').length).toBeLessThan(30);
    expect(narrow.text.endsWith('…')).toBe(true);
  });

  it('leaves the terminal on a fresh line when stopped', () => {
    const out = sink(true, 200);
    const p = new ProgressDisplay(out, () => base);
    p.start();
    p.stop();
    expect(out.text.endsWith('\n')).toBe(true);
  });

  it('styles the terminal line only when asked to, and never the plain lines', () => {
    const plainTty = sink(true, 200);
    new ProgressDisplay(plainTty, () => base).update();
    expect(plainTty.text).not.toMatch(/\x1b\[[0-9;]*m/);

    const colourTty = sink(true, 200);
    new ProgressDisplay(colourTty, () => base, { colour: true }).update();
    expect(colourTty.text).toContain('\x1b[1m38/40\x1b[22m devices connected');
    expect(colourTty.text).toContain('\x1b[2m · \x1b[22m');
    expect(colourTty.text.replace(/\x1b\[[0-9;]*m/g, '').replace('\r\x1b[2K', '')).toBe(
      '38/40 devices connected · 0.0 readings/s · 0 sent · 2 errors · sim 2026-06-18 10:15 UTC ×60',
    );

    const piped = sink(false);
    const p = new ProgressDisplay(piped, () => base, { colour: true });
    p.update();
    expect(piped.text).not.toMatch(/[\r\x1b]/);
  });
});
