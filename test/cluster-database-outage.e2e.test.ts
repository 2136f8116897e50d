/**
 * A worker whose PostgreSQL goes away (CONTRACT §8): readings are still acknowledged, stored and
 * written to InfluxDB; the rules catch up when the database is back, in the running process or, if
 * it was stopped meanwhile, from its spool after the restart; and a stop does not wait for the
 * database forever. The outage is real: the test's database refuses connections and its sessions
 * are terminated (the run's PostgreSQL, loopback).
 */
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/observability/logger.js';
import { CitypipeService } from '../src/service.js';
import { createPgDatabase } from '../src/postgres/local-postgres.js';
import { createDatabase, influxQuery, uniqueDbName } from './helpers/influx.js';
import { connectDevice, telemetryTopic, testDevice, testEnv, writeCatalog } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

const influxUrl = inject('influxUrl');
const postgresUrl = inject('postgresUrl');

const running: CitypipeService[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function admin<T extends pg.QueryResultRow>(sql: string, args: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: postgresUrl });
  await c.connect();
  try {
    return (await c.query<T>(sql, args)).rows;
  } finally {
    await c.end();
  }
}

async function outage(db: string, on: boolean): Promise<void> {
  await admin(`ALTER DATABASE ${db} ALLOW_CONNECTIONS ${on ? 'false' : 'true'}`);
  if (on) await admin('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);
}

async function tickets(url: string): Promise<{ status: string }[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ status: string }>("SELECT status FROM tickets WHERE rule = 'waste.collect' ORDER BY id")).rows;
  } finally {
    await c.end();
  }
}

describe('a worker whose PostgreSQL goes away', () => {
  it('keeps storing readings, catches the rules up when the database is back, and stops without waiting for it', async () => {
    const databaseUrl = await createPgDatabase(postgresUrl);
    const dbName = new URL(databaseUrl).pathname.slice(1);
    const bin = testDevice('waste-bin', 'centrum');
    const influxDb = uniqueDbName('pgoutage');
    await createDatabase(influxUrl, influxDb);
    const env = testEnv(influxUrl, influxDb, writeCatalog([bin]), { CITYPIPE_DATABASE_URL: databaseUrl, CITYPIPE_WORKER_ID: 'worker-outage', CITYPIPE_STOP_TIMEOUT_MS: '3000' });
    const config = loadConfig(env);
    const start = async () => {
      const s = new CitypipeService(config, silentLogger);
      await s.start();
      running.push(s);
      return s;
    };
    const publish = async (s: CitypipeService, fillingLevel: number, seq: number) => {
      const client = await connectDevice(`mqtt://127.0.0.1:${s.mqttPort}`, bin);
      await client.publishAsync(telemetryTopic(bin), JSON.stringify({ ts: Date.now(), seq, fillingLevel, batteryLevel: 0.9 }), { qos: 1 });
      await client.endAsync();
    };
    const inInflux = (seq: number) => waitFor(`reading ${seq} in InfluxDB`, async () => (await influxQuery(influxUrl, influxDb, `SELECT seq FROM waste_bin WHERE seq = ${seq}`)).length === 1, 15_000, 100);

    let service = await start();
    await outage(dbName, true);
    // Acknowledged and written while the database is away.
    await publish(service, 0.9, 1);
    await inInflux(1);
    await outage(dbName, false);
    // The worker retries its commit: the raise opens its ticket in the running process.
    await waitFor('the ticket opened once the database is back', async () => (await tickets(databaseUrl)).length === 1, 30_000, 250);

    await outage(dbName, true);
    await publish(service, 0.1, 2);
    await inInflux(2);
    // A stop while the database is away ends (the readings it could not commit stay in the spool).
    const stopped = Date.now();
    const done = running.splice(running.indexOf(service), 1)[0]!.stop();
    await waitFor('the stop to end', () => Promise.race([done.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 100))]), 40_000, 0);
    expect(Date.now() - stopped).toBeLessThan(40_000);

    await outage(dbName, false);
    service = await start();
    // The clear came back from the spool and closed the ticket.
    await waitFor('the ticket closed after the restart', async () => (await tickets(databaseUrl)).map((t) => t.status).join() === 'closed', 30_000, 250);
    expect(await tickets(databaseUrl)).toEqual([{ status: 'closed' }]);
  }, 150_000);
});
