import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import client from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { LiveHeap } from './live-heap.js';

async function gauge(registry: client.Registry, name: string): Promise<number> {
  const m = /^(\S+) (\S+)$/m.exec((await registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).join('\n'));
  return Number(m?.[2]);
}

describe('LiveHeap', () => {
  const g = globalThis as { gc?: () => void };
  const had = g.gc;
  afterEach(() => {
    g.gc = had;
  });

  it('with --expose-gc, reports the memory that survives a forced full collection', async () => {
    // What `node --expose-gc` gives a process, obtained inside this test run.
    setFlagsFromString('--expose-gc');
    g.gc = runInNewContext('gc') as () => void;
    const registry = new client.Registry();
    const live = new LiveHeap(registry);
    try {
      let held: Buffer[] | undefined = Array.from({ length: 64 }, () => Buffer.alloc(1024 * 1024, 1));
      live.sampleIfExposed();
      const withBuffers = await gauge(registry, 'citypipe_nodejs_external_live_bytes');
      expect(withBuffers).toBeGreaterThan(64 * 1024 * 1024);
      expect(held.length).toBe(64);
      held = undefined;
      live.sampleIfExposed();
      const without = await gauge(registry, 'citypipe_nodejs_external_live_bytes');
      // Garbage is not counted: the 64 MiB went with the collection.
      expect(withBuffers - without).toBeGreaterThan(60 * 1024 * 1024);
      expect(await gauge(registry, 'citypipe_nodejs_heap_live_bytes')).toBeGreaterThan(0);
    } finally {
      live.stop();
    }
  });

  it('forces nothing in a process started without --expose-gc', async () => {
    delete g.gc;
    const registry = new client.Registry();
    const live = new LiveHeap(registry);
    live.sampleIfExposed();
    // No full collection has been seen yet: nothing to report.
    expect(await gauge(registry, 'citypipe_nodejs_heap_live_bytes')).toBe(0);
    live.stop();
  });
});
