/**
 * The core of `buildApp`'s dependencies for route tests that are about something else: no metrics,
 * ready, nothing received, no dead letters. A test spreads it and adds what it tests.
 */
import { silentLogger } from '../../observability/logger.js';
import type { AppDeps } from '../app.js';

export function idleAppDeps(): Omit<AppDeps, 'security'> {
  return {
    log: silentLogger,
    metricsText: async () => ({ contentType: 'text/plain', body: '' }),
    notReadyReasons: () => [],
    stats: () => ({ received: 0, recovered: 0, written: 0, deadLettered: 0, pending: 0, refused: 0, oldestPendingAgeS: 0, spoolBytes: 0, connectedDevices: 0, mqttConnections: 0 }),
    deadLettersByReason: () => ({}),
    deadLetters: { list: () => ({ items: [], total: 0 }) },
    replayDeadLetters: async () => ({ replayed: 0, skipped: [] }),
  };
}
