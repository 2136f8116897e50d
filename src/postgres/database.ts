/**
 * PostgreSQL shared by every worker (CONTRACT §8, `CITYPIPE_DATABASE_URL`): the pool, transactions,
 * and the schema, migrated at start. Migrations run under an advisory lock, so workers starting
 * together apply each one once; a schema newer than this citypipe stops the start rather than let an
 * old worker write rows it does not understand.
 */
import pg from 'pg';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { MIGRATIONS } from './schema.js';

export type Queryable = Pick<pg.PoolClient, 'query'>;

/** Advisory lock keys: one per kind of work that must run on one worker at a time. */
export const LOCKS = {
  migrate: 0x6369_7479_01,
  deadman: 0x6369_7479_02,
  events: 0x6369_7479_03,
} as const;

/** host:port/db of a URL, never its credentials (log lines and errors). */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'the configured database';
  }
}

export interface OpenedDatabase {
  readonly pool: pg.Pool;
  /** The schema version after migrating. */
  readonly version: number;
}

/**
 * Connects, checks the server answers and migrates the schema. Throws `CP_ERR_DATABASE_UNREACHABLE`
 * naming the server (never the password) and what to do.
 */
export async function openDatabase(url: string, opts: { maxConnections?: number; applicationName?: string } = {}): Promise<OpenedDatabase> {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.maxConnections ?? 8,
    application_name: opts.applicationName ?? 'citypipe',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    // Every query settles: a lock or a server that never answers becomes an error the caller retries.
    statement_timeout: 30_000,
    query_timeout: 35_000,
  });
  // An idle client losing its connection (a server restart) must not take the process down; the
  // next query gets a new one.
  pool.on('error', () => undefined);
  try {
    const version = await migrate(pool);
    return { pool, version };
  } catch (err) {
    await pool.end().catch(() => undefined);
    if (err instanceof CitypipeError) throw err;
    throw unreachable(url, err);
  }
}

export function unreachable(url: string, err: unknown): CitypipeError {
  const why = err instanceof Error ? err.message : String(err);
  return new CitypipeError(
    ErrorCodes.DATABASE_UNREACHABLE,
    `CITYPIPE_DATABASE_URL: cannot use PostgreSQL at ${describeDatabase(url)}: ${why}. Start PostgreSQL (e.g. \`systemctl start postgresql\`), check the URL, and that the user may create tables in the database.`,
    { cause: err },
  );
}

/** Runs `fn` in a transaction on one pooled client: COMMIT on success, ROLLBACK on a throw. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

async function migrate(pool: pg.Pool): Promise<number> {
  return inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.migrate]);
    await c.query('CREATE TABLE IF NOT EXISTS citypipe_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const r = await c.query<{ v: number | null }>('SELECT max(version) AS v FROM citypipe_schema');
    const current = r.rows[0]?.v ?? 0;
    const latest = MIGRATIONS.length;
    if (current > latest) {
      throw new CitypipeError(
        ErrorCodes.DATABASE_SCHEMA,
        `CITYPIPE_DATABASE_URL: the database's schema is version ${current}, newer than this citypipe's ${latest}: upgrade this worker to the version the others run`,
      );
    }
    for (let v = current + 1; v <= latest; v++) {
      await c.query(MIGRATIONS[v - 1]!);
      await c.query('INSERT INTO citypipe_schema (version) VALUES ($1)', [v]);
    }
    return latest;
  });
}
