/**
 * Starts ONE real influxd and ONE real PostgreSQL for the whole test run and hands their URLs to the
 * tests (`inject('influxUrl')`, `inject('postgresUrl')`). There is no fallback and no skipping:
 * without either the run fails with the command that installs it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalInfluxd } from '../src/influxd/local-influxd.js';
import { startLocalPostgres } from '../src/postgres/local-postgres.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'citypipe-test-influxd-'));
  try {
    const influxd = await startLocalInfluxd({ dataDir });
    project.provide('influxUrl', influxd.url);
    const postgres = await startLocalPostgres().catch(async (err: unknown) => {
      await influxd.stop();
      throw err;
    });
    project.provide('postgresUrl', postgres.url);
    return async () => {
      await postgres.stop();
      await influxd.stop();
      await rm(dataDir, { recursive: true, force: true });
    };
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
