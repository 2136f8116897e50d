import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * The process logger. JSON lines on stdout (pino's default), one child per stage:
 * `logger.child({ stage: 'writer' })`. Nothing is logged per successful message; counters are metrics.
 */
export function createLogger(level: LevelWithSilent = 'info', destination?: pino.DestinationStream): Logger {
  return destination ? pino({ level, base: { svc: 'citypipe' } }, destination) : pino({ level, base: { svc: 'citypipe' } });
}

/** A logger that drops everything; for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
