/**
 * The records handed out by `read()` and not yet acknowledged, in seq order. Acks arrive in any
 * order; the front is always the lowest unacknowledged seq, which is what the cursor persists.
 *
 * Parallel typed arrays in a ring rather than one object per record: with half a million records in
 * flight this is ~13 MB instead of ~50 MB of small objects for the GC to walk.
 */
const INITIAL_CAPACITY = 1024;

export class UnackedWindow {
  private seqs = new Float64Array(INITIAL_CAPACITY);
  private bytes = new Uint32Array(INITIAL_CAPACITY);
  private weights = new Uint32Array(INITIAL_CAPACITY);
  private appendedAt = new Float64Array(INITIAL_CAPACITY);
  private acked = new Uint8Array(INITIAL_CAPACITY);
  private mask = INITIAL_CAPACITY - 1;
  private head = 0;
  /** Slots in use, including acknowledged ones behind an unacknowledged front. */
  private used = 0;
  private unackedCount = 0;

  /** Records handed out and not acknowledged. */
  get size(): number {
    return this.unackedCount;
  }

  /** Lowest unacknowledged seq; only meaningful when `size > 0`. */
  get frontSeq(): number {
    return this.seqs[this.head]!;
  }

  /** appendedAt of the lowest unacknowledged record; only meaningful when `size > 0`. */
  get frontAppendedAt(): number {
    return this.appendedAt[this.head]!;
  }

  /** Adds a record just handed out; seqs must increase. */
  push(seq: number, bytes: number, weight: number, appendedAt: number): void {
    if (this.used === this.mask + 1) this.grow();
    const i = (this.head + this.used) & this.mask;
    this.seqs[i] = seq;
    this.bytes[i] = bytes;
    this.weights[i] = weight;
    this.appendedAt[i] = appendedAt;
    this.acked[i] = 0;
    this.used++;
    this.unackedCount++;
  }

  /**
   * Marks `seq` acknowledged. Returns false when it is not an unacknowledged record of this window
   * (never handed out, or acknowledged before), so a repeated ack cannot be counted twice.
   * `out` receives the record's frame bytes and weight.
   */
  ack(seq: number, out: { bytes: number; weight: number }): boolean {
    let lo = 0;
    let hi = this.used - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.seqs[(this.head + mid) & this.mask]!;
      if (s < seq) lo = mid + 1;
      else if (s > seq) hi = mid - 1;
      else {
        const i = (this.head + mid) & this.mask;
        if (this.acked[i] === 1) return false;
        this.acked[i] = 1;
        this.unackedCount--;
        out.bytes = this.bytes[i]!;
        out.weight = this.weights[i]!;
        while (this.used > 0 && this.acked[this.head] === 1) {
          this.head = (this.head + 1) & this.mask;
          this.used--;
        }
        return true;
      }
    }
    return false;
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const reorder = <T extends Float64Array | Uint32Array | Uint8Array>(from: T, to: T): T => {
      for (let k = 0; k < this.used; k++) to[k] = from[(this.head + k) & this.mask]!;
      return to;
    };
    this.seqs = reorder(this.seqs, new Float64Array(cap));
    this.bytes = reorder(this.bytes, new Uint32Array(cap));
    this.weights = reorder(this.weights, new Uint32Array(cap));
    this.appendedAt = reorder(this.appendedAt, new Float64Array(cap));
    this.acked = reorder(this.acked, new Uint8Array(cap));
    this.mask = cap - 1;
    this.head = 0;
  }
}
