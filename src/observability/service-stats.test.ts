import { describe, expect, it } from 'vitest';
import { DeadLetterReasons } from '../errors/catalog.js';
import { ServiceStats, type StatsSources } from './service-stats.js';

function sources(over: Partial<StatsSources> = {}): StatsSources {
  return {
    metrics: {
      stats: (pending) => ({ received: 10, recovered: 2, written: 6, deadLettered: 1, refused: 4, pending }),
      totalsByType: () => ({ 'waste-bin': { received: 10, written: 6, deadLettered: 1 } }),
    },
    spool: { stats: () => ({ pendingWeight: 5, pendingBytes: 700, oldestPendingAt: Date.now() - 3000 }) },
    deadLetters: { countByReason: () => ({ out_of_range: 1 }) },
    doneInOpenRecords: () => 2,
    connections: () => ({ devices: 3, mqtt: 7 }),
    ...over,
  };
}

describe('ServiceStats', () => {
  it('answers /api/stats and the self-monitoring snapshot from the same fields', () => {
    const stats = new ServiceStats(sources());
    const now = stats.now();
    // pending = the spool's weight less what is already done in open records: received = written + deadLettered + pending.
    expect(now).toMatchObject({ received: 10, written: 6, deadLettered: 1, pending: 3, spoolBytes: 700, connectedDevices: 3, mqttConnections: 7 });
    expect(now.received).toBe(now.written + now.deadLettered + now.pending);
    expect(now.oldestPendingAgeS).toBeGreaterThanOrEqual(3);
    expect(stats.pending()).toBe(now.pending);
    const { oldestPendingAgeS: _age, ...rest } = now;
    expect(stats.snapshot()).toMatchObject(rest);
  });

  it('lists every dead-letter reason, 0 where the store holds none', () => {
    const byReason = new ServiceStats(sources()).deadLettersByReason();
    expect(Object.keys(byReason).sort()).toEqual([...DeadLetterReasons].sort());
    expect(byReason['out_of_range']).toBe(1);
    expect(byReason['invalid_json']).toBe(0);
  });

  it('reports write requests per snapshot window and keeps the last write', () => {
    const stats = new ServiceStats(sources());
    stats.observeWrite({ lines: 100, durationMs: 20, ok: true });
    stats.observeWrite({ lines: 50, durationMs: 40, ok: false });
    const first = stats.snapshot();
    expect(first.writes).toEqual({ requests: 2, failed: 1, lines: 100, meanDurationMs: 30, maxDurationMs: 40 });
    expect(first.lastWrite).toEqual({ lines: 50, durationMs: 40, ok: false });
    const second = stats.snapshot();
    expect(second.writes).toEqual({ requests: 0, failed: 0, lines: 0 });
    expect(second.lastWrite).toEqual(first.lastWrite);
  });

  it('has no pending age without a pending reading', () => {
    expect(new ServiceStats(sources({ spool: { stats: () => ({ pendingWeight: 0, pendingBytes: 0, oldestPendingAt: undefined }) } })).now().oldestPendingAgeS).toBe(0);
  });
});
