/**
 * Receive-time stamps that never collide within one device and never run ahead of the receipt. A
 * reading without `ts` is stamped with the time it was received, at ms precision (CONTRACT §4); two
 * such readings of one device in the same ms (a batch without `ts`, a burst after a reconnect) would
 * be one point in InfluxDB, and one would be lost. Each device gets distinct, increasing
 * milliseconds instead, at or after the receive time, but at most {@link RECEIVE_STAMP_WINDOW_MS}
 * after it: without that bound, 30 batches of 1,000 such readings stamped the last one 29 s in the
 * future (and walked past the 5-minute limit on `ts`). A device that sends more than 1,000 readings
 * without `ts` within a second gets the rest dead-lettered (`ts_required`), never silently merged.
 *
 * Only devices in the catalog reach this (the map is bounded by the catalog's size).
 */

/** No reading is stamped later than this after it was received: 1,000 distinct ms per device per second. */
export const RECEIVE_STAMP_WINDOW_MS = 1000;

export class ReceiveClock {
  private readonly last = new Map<string, number>();

  /**
   * Reserves up to `count` consecutive ms for `deviceId`, starting at or after `receivedAt` and
   * ending before `receivedAt + RECEIVE_STAMP_WINDOW_MS`. Returns the first and how many were
   * granted (fewer than `count`, possibly 0, when the window is used up).
   */
  reserve(deviceId: string, receivedAt: number, count: number): { first: number; granted: number } {
    const prev = this.last.get(deviceId);
    const first = prev === undefined || receivedAt > prev ? receivedAt : prev + 1;
    const granted = Math.max(0, Math.min(count, receivedAt + RECEIVE_STAMP_WINDOW_MS - first));
    if (granted > 0) this.last.set(deviceId, first + granted - 1);
    return { first, granted };
  }
}
