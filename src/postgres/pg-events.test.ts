/**
 * The shared event log (real PostgreSQL): log ids grow in commit order across workers, so a reader
 * following "after id N" misses nothing; old rows are pruned beyond CITYPIPE_EVENTS_MAX.
 */
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { collectEvent, T0 } from '../dispatch/testing/fixtures.js';
import type { AppliedEvent } from '../tickets/ticket-store.js';
import { openDatabase } from './database.js';
import { createPgDatabase } from './local-postgres.js';
import { PgEventLog } from './pg-events.js';

const pools: pg.Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

async function log(maxRows = 1000): Promise<{ pool: pg.Pool; events: PgEventLog }> {
  const { pool } = await openDatabase(await createPgDatabase(inject('postgresUrl')));
  pools.push(pool);
  return { pool, events: new PgEventLog(pool, maxRows) };
}

const applied = (n: number, at = T0): AppliedEvent[] =>
  Array.from({ length: n }, (_, i) => ({ event: collectEvent({ state: 'raised', at: at + i, deviceId: `bin-${i}` }), ticketId: undefined, transition: undefined }));

describe('the shared event log', () => {
  it('gives a later commit higher ids: a second worker waits for the first one to commit', async () => {
    const { pool, events } = await log();
    const a = await pool.connect();
    const b = await pool.connect();
    try {
      await a.query('BEGIN');
      const first = await events.append(a, applied(3));
      await b.query('BEGIN');
      const second = events.append(b, applied(2, T0 + 1000));
      // B waits on the log's lock while A is open (seen in pg_locks, not by timing).
      for (let i = 0; ; i++) {
        const waiting = await pool.query<{ n: string }>("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        if (waiting.rows[0]!.n === '1') break;
        if (i > 500) throw new Error('the second append never waited for the first');
        await new Promise((r) => setTimeout(r, 10));
      }
      await a.query('COMMIT');
      const later = await second;
      await b.query('COMMIT');
      expect(Math.min(...later.map((e) => e.id))).toBeGreaterThan(Math.max(...first.map((e) => e.id)));
      expect((await events.list({ afterId: 0, limit: 100 })).map((e) => e.deviceId)).toEqual(['bin-0', 'bin-1', 'bin-2', 'bin-0', 'bin-1']);
    } finally {
      a.release();
      b.release();
    }
  });

  it('keeps about the newest CITYPIPE_EVENTS_MAX events', async () => {
    const { pool, events } = await log(50);
    for (let i = 0; i < 100; i++) {
      const c = await pool.connect();
      try {
        await events.append(c, applied(3, T0 + i * 10));
      } finally {
        c.release();
      }
    }
    const ids = (await pool.query<{ id: string }>('SELECT id FROM events ORDER BY id')).rows.map((r) => Number(r.id));
    // 300 logged; pruned each time the ids pass a multiple of 100, to the newest 50 then.
    expect(ids.at(-1)).toBe(300);
    expect(ids[0]).toBe(251);
    expect(ids).toHaveLength(50);
  });
});
