/**
 * Starts ONE real influxd for the whole test run and hands its URL to the tests
 * (`inject('influxUrl')`). There is no fallback and no skipping: without influxd the run fails with
 * the command that installs it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalInfluxd } from '../src/influxd/local-influxd.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'citypipe-test-influxd-'));
  try {
    const influxd = await startLocalInfluxd({ dataDir });
    project.provide('influxUrl', influxd.url);
    return async () => {
      await influxd.stop();
      await rm(dataDir, { recursive: true, force: true });
    };
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
