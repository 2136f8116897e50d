import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors/catalog.js';
import { createDatabase, influxQuery } from '../../test/helpers/influx.js';
import { startLocalInfluxd } from './local-influxd.js';

describe('startLocalInfluxd', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'citypipe-local-influxd-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('runs influxd on loopback with a quiet config, and its data survives a restart', async () => {
    const first = await startLocalInfluxd({ dataDir });
    try {
      expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const config = await readFile(join(dataDir, 'influxd.conf'), 'utf8');
      expect(config).toContain(`bind-address = "127.0.0.1:${first.port}"`);
      expect(config).toMatch(/^bind-address = "127\.0\.0\.1:\d+"$/m); // RPC, on loopback too
      expect(config).toContain('reporting-disabled = true');
      expect(config).toMatch(/\[monitor\]\n\s+store-enabled = false/);
      await createDatabase(first.url, 'persist');
      const res = await fetch(`${first.url}/write?db=persist&precision=ms`, { method: 'POST', body: 'm f=42 1000' });
      expect(res.status).toBe(204);
    } finally {
      await first.stop();
    }
    await expect(fetch(`${first.url}/ping`)).rejects.toThrow();

    const second = await startLocalInfluxd({ dataDir });
    try {
      expect(await influxQuery(second.url, 'persist', 'SELECT f FROM m')).toEqual([{ time: 1000, f: 42 }]);
    } finally {
      await second.stop();
      await second.stop(); // idempotent
    }
  });

  it('says how to install influxd when it is missing', async () => {
    await expect(startLocalInfluxd({ dataDir, binary: 'influxd-not-installed-here' })).rejects.toMatchObject({
      code: ErrorCodes.INFLUXD_MISSING.code,
      message: expect.stringMatching(/sudo apt-get install influxdb.*npm run setup.*CITYPIPE_INFLUX_URL/s),
    });
  });

  it('reports an early exit with the last lines of its stderr', async () => {
    // `sh run -config …` fails at once, complaining on stderr that it cannot open "run".
    await expect(startLocalInfluxd({ dataDir, binary: 'sh' })).rejects.toMatchObject({
      code: ErrorCodes.INFLUXD_START.code,
      message: expect.stringMatching(/exited with code \d+ before answering .*\n.*run/s),
    });
  });
});
