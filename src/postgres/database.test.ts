/**
 * Opening the shared database: a clear error when it cannot be used, the schema migrated once when
 * workers start together, and a schema newer than this citypipe refused.
 */
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { openDatabase } from './database.js';

type Refusal = Error & { code?: string };
const refusal = (p: Promise<unknown>): Promise<Refusal> =>
  p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e as Refusal,
  );
import { createPgDatabase } from './local-postgres.js';
import { MIGRATIONS } from './schema.js';

describe('the shared database', () => {
  it('says which server it cannot use and what to do, without the password', async () => {
    const err = await refusal(openDatabase('postgres://citypipe:s3cret@127.0.0.1:1/citypipe'));
    expect(err.code).toBe('CP_ERR_DATABASE_UNREACHABLE');
    expect(err.message).toContain('CITYPIPE_DATABASE_URL: cannot use PostgreSQL at 127.0.0.1:1/citypipe');
    expect(err.message).toContain('Start PostgreSQL');
    expect(err.message).not.toContain('s3cret');
  });

  it('migrates once when workers start together, and refuses a schema newer than it knows', async () => {
    const url = await createPgDatabase(inject('postgresUrl'));
    const opened = await Promise.all([openDatabase(url), openDatabase(url), openDatabase(url)]);
    expect(opened.map((o) => o.version)).toEqual([MIGRATIONS.length, MIGRATIONS.length, MIGRATIONS.length]);
    const [first] = opened;
    const applied = await first!.pool.query<{ version: number }>('SELECT version FROM citypipe_schema ORDER BY version');
    expect(applied.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    await first!.pool.query('INSERT INTO citypipe_schema (version) VALUES ($1)', [MIGRATIONS.length + 1]);
    await Promise.all(opened.map((o) => o.pool.end()));
    const err = await refusal(openDatabase(url));
    expect(err.code).toBe('CP_ERR_DATABASE_SCHEMA');
    expect(err.message).toContain(`schema is version ${MIGRATIONS.length + 1}, newer than this citypipe's ${MIGRATIONS.length}`);
    // Nothing was left open by the refused start.
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.end();
  });
});
