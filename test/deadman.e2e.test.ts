/**
 * Offline detection with the real process and real time: it survives `kill -9`, it watches devices
 * that never report, and devices added to the catalog while it runs.
 */
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createDatabase, uniqueDbName } from './helpers/influx.js';
import { connectDevice, telemetryTopic, testDevice, testEnv, writeCatalog, type TestDevice } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import { killChildren, startServiceProcess, type StartedService } from './helpers/cli.js';

const influxUrl = inject('influxUrl');
const TOKEN = 'deadman-e2e-token-0123456789';
const INTERVAL_S = 2;

afterEach(killChildren);

function quick(d: TestDevice): TestDevice {
  return { ...d, record: { ...d.record, reportingIntervalS: INTERVAL_S } };
}

interface ApiEvent {
  deviceId: string;
  rule: string;
  state: string;
  at: string;
  message: string;
}

async function api<T>(svc: StartedService, url: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${svc.httpPort}${url}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function offlineEvents(svc: StartedService, d: TestDevice): Promise<ApiEvent[]> {
  return (await api<{ items: ApiEvent[] }>(svc, `/api/events?device_id=${d.record.id}&rule=device.offline&limit=100`)).items;
}

async function publishOne(svc: StartedService, d: TestDevice, reading: Record<string, unknown>): Promise<void> {
  const client = await connectDevice(`mqtt://127.0.0.1:${svc.mqttPort}`, d);
  await client.publishAsync(telemetryTopic(d), JSON.stringify(reading), { qos: 1 });
  await client.endAsync();
}

/** Replaces the catalog file in one step, as an editor or `devices add` does. */
function rewriteCatalog(dir: string, devices: readonly TestDevice[]): void {
  const temp = path.join(dir, '.next.json');
  writeFileSync(temp, JSON.stringify(devices.map((d) => d.record)));
  renameSync(temp, path.join(dir, 'test-fleet.json'));
}

describe('device.offline with a real process', () => {
  it('is raised after a kill -9 and a restart, for a device that never reports, and for one added while running', async () => {
    const heard = quick(testDevice('waste-bin', 'west'));
    const justBeforeKill = quick(testDevice('waste-bin', 'west'));
    const never = quick(testDevice('parking-meter', 'west'));
    const late = quick(testDevice('waste-bin', 'west'));
    const db = uniqueDbName('deadman');
    await createDatabase(influxUrl, db);
    const devicesDir = writeCatalog([heard, justBeforeKill, never]);
    const env = testEnv(influxUrl, db, devicesDir, { CITYPIPE_HTTP_TOKEN: TOKEN });

    const first = await startServiceProcess(env);
    await publishOne(first, heard, { fillingLevel: 0.4 });
    // Written and released by now: its last-seen time must have been saved first.
    await new Promise((r) => setTimeout(r, 2000));
    // Acknowledged, and (most likely) still in the spool when the process dies.
    await publishOne(first, justBeforeKill, { fillingLevel: 0.6 });
    first.child.kill('SIGKILL');
    await first.exited;

    const restartedAt = Date.now();
    const second = await startServiceProcess(env);
    // Both are known again at once: the latest reading and last-seen time came back from the store or the spool.
    for (const d of [heard, justBeforeKill]) {
      const state = await waitFor(`${d.record.id} known after the restart`, async () => {
        const s = await api<{ lastSeen: string | null; state: string }>(second, `/api/devices/${d.record.id}`);
        return s.lastSeen === null ? undefined : s;
      }, 10_000);
      expect(state.state).not.toBe('unknown');
    }

    const limitMs = 3 * INTERVAL_S * 1000;
    for (const d of [heard, justBeforeKill, never]) {
      const [raised] = await waitFor(`${d.record.id} raised offline`, async () => {
        const events = await offlineEvents(second, d);
        return events.length > 0 ? events : undefined;
      }, 30_000, 200);
      expect(raised).toMatchObject({ state: 'raised', rule: 'device.offline' });
      // Silence is counted from the restart, not across citypipe's own downtime.
      expect(Date.parse(raised!.at)).toBeGreaterThanOrEqual(restartedAt + limitMs);
      if (d === never) expect(raised!.message).toMatch(/never reported/);
      else expect(raised!.message).toMatch(/no reading for/);
      expect((await api<{ state: string }>(second, `/api/devices/${d.record.id}`)).state).toBe('offline');
    }

    // A device registered while the service runs is watched from then on.
    const addedAt = Date.now();
    rewriteCatalog(devicesDir, [heard, justBeforeKill, never, late]);
    const [lateRaised] = await waitFor('the added device raised offline', async () => {
      const events = await offlineEvents(second, late);
      return events.length > 0 ? events : undefined;
    }, 30_000, 200);
    expect(lateRaised).toMatchObject({ state: 'raised' });
    expect(lateRaised!.message).toMatch(/never reported/);
    expect(Date.parse(lateRaised!.at)).toBeGreaterThanOrEqual(addedAt + limitMs);
    // Its first reading clears it.
    await publishOne(second, late, { fillingLevel: 0.1 });
    await waitFor('the added device cleared', async () => (await offlineEvents(second, late)).some((e) => e.state === 'cleared'), 10_000, 200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 120_000);
});
