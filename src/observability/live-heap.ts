/**
 * The memory that survives a full garbage collection: the live set, what a leak grows. The heap
 * figures of prom-client's default metrics move with every allocation and every collection, so a
 * straight line of growth hides in their saw-tooth; these two move only when the live set does.
 *
 * Updated after every full (mark-sweep-compact) collection V8 makes on its own. A process started
 * with `node --expose-gc` (benchmarks, soak tests) forces one before every `/metrics` scrape, so the
 * figures are exact at the moment they are read; no production process is started that way.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import client from 'prom-client';

export class LiveHeap {
  private heap = 0;
  private external = 0;
  private readonly observer: PerformanceObserver;

  constructor(registry: client.Registry) {
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.read();
      }
    });
    this.observer.observe({ entryTypes: ['gc'] });
    const self = this;
    new client.Gauge({
      name: 'citypipe_nodejs_heap_live_bytes',
      help: 'V8 heap in use right after the last full garbage collection: the live set (with node --expose-gc, a scrape forces a collection first).',
      registers: [registry],
      collect() {
        this.set(self.heap);
      },
    });
    new client.Gauge({
      name: 'citypipe_nodejs_external_live_bytes',
      help: 'Memory of Buffers and other objects outside the V8 heap, right after the last full garbage collection (with node --expose-gc, a scrape forces a collection first).',
      registers: [registry],
      collect() {
        this.set(self.external);
      },
    });
  }

  /** Forces a full collection and reads the live set, when the process was started with --expose-gc. */
  sampleIfExposed(): void {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (typeof gc !== 'function') return;
    // Twice: the first collection can still see what the caller's frame dropped a moment ago, and
    // the memory of ArrayBuffers it frees is accounted for only after the next one.
    gc();
    gc();
    this.read();
  }

  stop(): void {
    this.observer.disconnect();
  }

  private read(): void {
    const s = v8.getHeapStatistics();
    this.heap = s.used_heap_size;
    this.external = s.external_memory;
  }
}
