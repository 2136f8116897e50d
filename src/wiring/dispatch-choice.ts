/**
 * Which dispatch a service runs: the single node's (SQLite in the data dir) or, with
 * CITYPIPE_DATABASE_URL, a worker's share of dispatch state in PostgreSQL, with the dead letters
 * moved there too (CONTRACT §8).
 */
import type { DeadLetterStore } from '../deadletter/store.js';
import type { Logger } from '../observability/logger.js';
import { PgDeadLetters } from '../postgres/pg-dead-letters.js';
import { ClusterDispatch, type ClusterDispatchOptions } from './cluster-dispatch.js';
import { DispatchWiring, type DispatchWiringOptions } from './dispatch.js';

export type Dispatch = DispatchWiring | ClusterDispatch;

/** Builds (not starts) the dispatch the config asks for. */
export function createDispatch(opts: DispatchWiringOptions & Omit<ClusterDispatchOptions, 'databaseUrl' | 'workerId'>): Dispatch {
  const { config } = opts;
  return config.databaseUrl ? new ClusterDispatch({ ...opts, databaseUrl: config.databaseUrl, workerId: config.workerId }) : new DispatchWiring(opts);
}

/** With a started cluster dispatch: the shared dead letters, moving this worker's there (started). */
export function sharedDeadLetters(dispatch: Dispatch, local: DeadLetterStore, workerId: string, log: Logger): PgDeadLetters | undefined {
  if (!(dispatch instanceof ClusterDispatch)) return undefined;
  const shared = new PgDeadLetters({ pool: dispatch.database, local, worker: workerId, log: log.child({ stage: 'dead-letters' }) });
  shared.start();
  return shared;
}
