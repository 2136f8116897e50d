/**
 * What citypipe reports about itself, assembled in one place: `GET /api/stats` answers `now()` and
 * the self-monitoring snapshot written to InfluxDB every 10 s (self-stats.ts) is `snapshot()`, so a
 * field means the same in both (SelfStatsSnapshot documents each).
 */
import { DeadLetterReasons } from '../errors/catalog.js';
import type { BatchOutcome } from '../sink/influx/writer.js';
import type { SpoolStats } from '../spool/spool.js';
import type { Metrics } from './metrics.js';
import { WriteWindow, type SelfStatsSnapshot } from './self-stats.js';

/** The fields read on every `/api/stats` request: cheap, no aggregate over a store. */
export type StatsNow = Pick<
  SelfStatsSnapshot,
  'received' | 'recovered' | 'written' | 'deadLettered' | 'refused' | 'pending' | 'spoolBytes' | 'oldestPendingAgeS' | 'connectedDevices' | 'mqttConnections'
>;

export interface StatsSources {
  metrics: Pick<Metrics, 'stats' | 'totalsByType'>;
  spool: { stats(): Pick<SpoolStats, 'pendingWeight' | 'pendingBytes' | 'oldestPendingAt'> };
  deadLetters: { countByReason(): Record<string, number> };
  /** Readings already done in spool records not yet acknowledged (the drain's); 0 before it runs. */
  doneInOpenRecords(): number;
  /** Distinct devices with an authenticated connection, and open MQTT connections; 0 before the broker runs. */
  connections(): { devices: number; mqtt: number };
}

export class ServiceStats {
  private readonly sources: StatsSources;
  private readonly writes = new WriteWindow();
  private lastWrite: SelfStatsSnapshot['lastWrite'];

  constructor(sources: StatsSources) {
    this.sources = sources;
  }

  /** Readings accepted but not yet written or dead-lettered: the spool's weight less what is done. */
  pending(): number {
    return this.sources.spool.stats().pendingWeight - this.sources.doneInOpenRecords();
  }

  now(): StatsNow {
    const src = this.sources;
    const s = src.spool.stats();
    const c = src.connections();
    return {
      ...src.metrics.stats(s.pendingWeight - src.doneInOpenRecords()),
      spoolBytes: s.pendingBytes,
      oldestPendingAgeS: s.oldestPendingAt === undefined ? 0 : Math.max(0, (Date.now() - s.oldestPendingAt) / 1000),
      connectedDevices: c.devices,
      mqttConnections: c.mqtt,
    };
  }

  /** Dead letters held in the store, every reason listed (0 where none): a reason missing from a snapshot has no "before" on the boards. */
  deadLettersByReason(): Record<string, number> {
    return { ...Object.fromEntries(DeadLetterReasons.map((r) => [r, 0])), ...this.sources.deadLetters.countByReason() };
  }

  /** One InfluxDB write request finished (the writer's `onBatch`). */
  observeWrite({ durationMs, lines, ok }: BatchOutcome): void {
    this.writes.observe(durationMs, lines, ok);
    this.lastWrite = { durationMs, lines, ok };
  }

  /** The self-monitoring snapshot (open tickets are dispatch's to add); starts a new write window. */
  snapshot(): Omit<SelfStatsSnapshot, 'openTicketsByService'> {
    return {
      ...this.now(),
      byType: this.sources.metrics.totalsByType(),
      deadLettersByReason: this.deadLettersByReason(),
      writes: this.writes.take(),
      ...(this.lastWrite ? { lastWrite: this.lastWrite } : {}),
    };
  }
}
