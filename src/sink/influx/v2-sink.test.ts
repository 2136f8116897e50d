import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ErrorCodes } from '../../errors/catalog.js';
import { closedPort, startHttpProxy } from '../../../test/helpers/http-proxy.js';
import { abstractSinkTest, type StoredPoint } from './sink-contract.js';
import { V2InfluxSink } from './v2-sink.js';

/**
 * A real VictoriaMetrics speaks /api/v2/write here (InfluxDB 2.x is not installable on this
 * machine). It stores each numeric field as a series `<measurement>_<field>` and ignores the
 * bucket; string fields do not survive, so the contract compares numeric fields only.
 */
let vm: ChildProcess | undefined;
let vmDir: string | undefined;

async function startVictoriaMetrics(): Promise<string> {
  vmDir = await mkdtemp(join(tmpdir(), 'citypipe-test-vm-'));
  const port = await closedPort();
  const url = `http://127.0.0.1:${port}`;
  const stderr: string[] = [];
  vm = spawn('victoria-metrics', [`-storageDataPath=${vmDir}`, `-httpListenAddr=127.0.0.1:${port}`, '-loggerLevel=ERROR'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  vm.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()));
  const exited = new Promise<string>((resolve) => {
    vm!.once('error', (e) => resolve(`cannot start victoria-metrics (${e.message}); install it with \`sudo apt-get install victoria-metrics\``));
    vm!.once('exit', (code) => resolve(`victoria-metrics exited with ${code}: ${stderr.join('')}`));
  });
  let failure: string | undefined;
  void exited.then((m) => (failure = m));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && failure === undefined) {
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) return url;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(failure ?? `victoria-metrics did not answer ${url}/health within 15 s: ${stderr.join('')}`);
}

afterAll(async () => {
  if (vm && vm.exitCode === null && vm.signalCode === null) {
    const gone = new Promise((r) => vm!.once('exit', r));
    vm.kill('SIGTERM');
    await gone;
  }
  if (vmDir) await rm(vmDir, { recursive: true, force: true });
});

abstractSinkTest('v2 (/api/v2/write via @influxdata/influxdb-client, VictoriaMetrics)', async () => {
  const url = await startVictoriaMetrics();
  return {
    url,
    build: (u, o) => new V2InfluxSink({ url: u, org: 'city', bucket: 'citypipe', token: 'not-checked', ...o }),
    readBack: async (measurement, prefix): Promise<StoredPoint[]> => {
      // New series become searchable only when VictoriaMetrics flushes its in-memory parts (~10 s).
      await fetch(`${url}/internal/force_flush`);
      const params = new URLSearchParams({ 'match[]': `{__name__=~"${measurement}_.+",device_id=~"${prefix}.*"}` });
      const text = await (await fetch(`${url}/api/v1/export?${params}`)).text();
      const byPoint = new Map<string, StoredPoint>();
      for (const line of text.split('\n').filter(Boolean)) {
        const s = JSON.parse(line) as { metric: Record<string, string>; values: number[]; timestamps: number[] };
        const field = s.metric.__name__!.slice(measurement.length + 1);
        s.timestamps.forEach((timeMs, i) => {
          const key = `${s.metric.device_id}@${timeMs}`;
          const p = byPoint.get(key) ?? { deviceId: s.metric.device_id!, timeMs, fields: {} };
          p.fields[field] = s.values[i]!;
          byPoint.set(key, p);
        });
      }
      return [...byPoint.values()];
    },
    keepsStrings: false,
    malformedLineMessage: undefined,
  };
});

describe('V2InfluxSink against InfluxDB 1.6, which has no /api/v2/write', () => {
  it('reports CP_ERR_INFLUX_NOT_FOUND and suggests CITYPIPE_INFLUX_API=v1', async () => {
    const sink = new V2InfluxSink({ url: inject('influxUrl'), bucket: 'citypipe' });
    await sink.ping(); // the server is there…
    // …its v2 API is not.
    await expect(sink.write(['m f=1 1'])).rejects.toMatchObject({
      code: ErrorCodes.INFLUX_NOT_FOUND.code,
      retryable: true,
      message: expect.stringContaining('CITYPIPE_INFLUX_API=v1'),
    });
  });
});

describe('V2InfluxSink requests', () => {
  it('sends one request per write, with org, bucket, ms precision and the token', async () => {
    const proxy = await startHttpProxy(() => ({ status: 204 }));
    try {
      const sink = new V2InfluxSink({ url: proxy.url, org: 'city', bucket: 'b/rp', token: 'tok' });
      const lines = Array.from({ length: 3000 }, (_, i) => `m f=${i} ${i}`);
      await sink.write(lines);
      expect(proxy.requests).toHaveLength(1);
      expect(proxy.requests[0]!.url).toBe('/api/v2/write?bucket=b%2Frp&precision=ms&org=city');
      expect(proxy.requests[0]!.headers.authorization).toBe('Token tok');
    } finally {
      await proxy.close();
    }
  });

  it('leaves org out when none is configured (1.8 and 3.x need none; an empty org= would fail on 2.x)', async () => {
    const proxy = await startHttpProxy(() => ({ status: 204 }));
    try {
      await new V2InfluxSink({ url: proxy.url, bucket: 'citypipe' }).write(['m f=1 1']);
      expect(proxy.requests[0]!.url).toBe('/api/v2/write?bucket=citypipe&precision=ms');
    } finally {
      await proxy.close();
    }
  });
});
