import { describe, expect, it } from 'vitest';
import { silentLogger } from '../observability/logger.js';
import { SideWriter, type SideSource } from './side-writer.js';

/** A source that, like the event log, offers its unwritten lines until told they are written. */
function logSource(lines: string[], chunk: number): SideSource & { left: string[] } {
  const left = [...lines];
  return {
    name: 'events',
    left,
    take() {
      if (left.length === 0) return undefined;
      const part = left.slice(0, chunk);
      return { lines: part, written: () => left.splice(0, part.length) };
    },
  };
}

describe('SideWriter', () => {
  it('keeps unwritten lines while InfluxDB refuses them and writes each once when it takes them again', async () => {
    const written: string[] = [];
    let down = true;
    const source = logSource(['e1', 'e2', 'e3', 'e4', 'e5'], 2);
    const writer = new SideWriter({
      write: async (lines) => {
        if (down) throw new Error('connection refused');
        written.push(...lines);
      },
      sources: [source],
      intervalMs: 60_000,
      log: silentLogger,
    });
    await writer.tick();
    expect(written).toEqual([]);
    expect(source.left).toHaveLength(5);
    down = false;
    await writer.tick();
    expect(written).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
    expect(source.left).toEqual([]);
    await writer.stop();
  });

  it('shares one run between concurrent ticks', async () => {
    let calls = 0;
    const writer = new SideWriter({
      write: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 20));
      },
      sources: [{ name: 'stats', take: (() => { let once = true; return () => (once ? ((once = false), { lines: ['x'] }) : undefined); })() }],
      intervalMs: 60_000,
      log: silentLogger,
    });
    await Promise.all([writer.tick(), writer.tick()]);
    expect(calls).toBe(1);
  });
});
