/**
 * Dead letters moving from a worker's own store to the shared table (real PostgreSQL): none lost,
 * none doubled when a move is cut short between the shared insert and the local delete.
 */
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { DeadLetterStore } from '../deadletter/store.js';
import { silentLogger } from '../observability/logger.js';
import { createPgDatabase } from './local-postgres.js';
import { openDatabase } from './database.js';
import { PgDeadLetters } from './pg-dead-letters.js';

const pools: pg.Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

function letter(i: number) {
  return { reason: 'wrong_type' as const, path: 'fillingLevel', message: 'expected a number', topic: `city/waste-bin/bin-${i}/telemetry`, deviceId: `bin-${i}`, type: 'waste-bin', receivedAt: 1_700_000_000_000 + i, index: undefined, payload: `{"fillingLevel":"full","i":${i}}` };
}

describe('shared dead letters', () => {
  it('moves every local dead letter once, also when a move is repeated after a crash', async () => {
    const { pool } = await openDatabase(await createPgDatabase(inject('postgresUrl')));
    pools.push(pool);
    const local = new DeadLetterStore({ file: ':memory:', maxRecords: 1000, log: silentLogger });
    local.start();
    for (let i = 0; i < 700; i++) local.add(letter(i));
    // The first move dies after its insert of the first page, before it deletes that page locally.
    const realRemove = local.remove.bind(local);
    let cut = true;
    local.remove = (ids) => {
      if (cut) {
        cut = false;
        throw new Error('killed between the shared insert and the local delete');
      }
      realRemove(ids);
    };
    const shared = new PgDeadLetters({ pool, local, worker: 'worker-1', log: silentLogger });
    await shared.move();
    expect(local.countByReason()).toEqual({ wrong_type: 700 });
    await shared.move();
    expect(local.countByReason()).toEqual({});
    const listed = await shared.list({ limit: 1000 });
    expect(listed.total).toBe(700);
    expect(new Set(listed.items.map((d) => d.payload)).size).toBe(700);
    expect(listed.items[0]).toMatchObject({ reason: 'wrong_type', path: 'fillingLevel', deviceId: 'bin-699', type: 'waste-bin', receivedAt: 1_700_000_000_699 });
    // Replay reads them oldest first and removes what it replayed.
    const oldest = await shared.oldest({ afterId: 0, limit: 2 });
    expect(oldest.map((d) => d.deviceId)).toEqual(['bin-0', 'bin-1']);
    await shared.remove(oldest.map((d) => d.id));
    expect((await shared.list({ reason: 'wrong_type' })).total).toBe(698);
    local.stop();
  });
});
