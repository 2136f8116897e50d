/**
 * Receive-time stamps that never collide within one device. A reading without `ts` is stamped with
 * the time it was received, at ms precision; two such readings of one device in the same ms (a
 * batch without `ts`, a burst after a reconnect) would be one point in InfluxDB, and one would be
 * lost. Each device gets distinct, increasing milliseconds instead, at or after the receive time.
 *
 * Only devices in the catalog reach this (the map is bounded by the catalog's size).
 */
export class ReceiveClock {
  private readonly last = new Map<string, number>();

  /** Reserves `count` consecutive ms for `deviceId`, starting at or after `receivedAt`; returns the first. */
  reserve(deviceId: string, receivedAt: number, count: number): number {
    const prev = this.last.get(deviceId);
    const first = prev === undefined || receivedAt > prev ? receivedAt : prev + 1;
    this.last.set(deviceId, first + count - 1);
    return first;
  }
}
