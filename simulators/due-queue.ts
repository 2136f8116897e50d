/**
 * A binary min-heap of things that fall due at a time: one scheduler for a whole fleet instead of a
 * timer per device, so 20 000 devices cost one timer and O(log n) per reading.
 */

/** Something with a due time (epoch ms) that the queue orders by. */
export interface Due {
  dueMs: number;
}

/** Min-heap by `dueMs`; among equal times, no order is promised. */
export class DueQueue<T extends Due> {
  private readonly heap: T[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** The earliest item, or undefined when empty. */
  peek(): T | undefined {
    return this.heap[0];
  }

  push(item: T): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as T).dueMs <= item.dueMs) break;
      h[i] = h[parent] as T;
      i = parent;
    }
    h[i] = item;
  }

  /** Removes and returns the earliest item. */
  pop(): T | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && (h[r] as T).dueMs < (h[l] as T).dueMs ? r : l;
      if ((h[child] as T).dueMs >= last.dueMs) break;
      h[i] = h[child] as T;
      i = child;
    }
    h[i] = last;
    return top;
  }
}
