/**
 * Devices that time their PUBACKs from a thread of their own, as real devices do from their own
 * machines: each publishes a QoS 1 reading on its own schedule, whether or not earlier PUBACKs are
 * back. On a thread that also did other work, a busy moment would delay the publishes too and hide
 * the stall it causes. Used by the residents' bench phase and test/residents-load.e2e.test.ts.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { DeviceTypeName } from '../src/device-types/registry.js';
import { readingBuilder } from './payloads.js';

export interface TimedDevice {
  id: string;
  type: DeviceTypeName;
  /** The device's secret (its MQTT password). */
  secret: string;
}

/** One PUBACK round trip as a device saw it: when it published (epoch ms) and how long the PUBACK took. */
export interface PubackSample {
  at: number;
  ms: number;
}

export interface PubackDevices {
  /** Every PUBACK so far. */
  samples(): Promise<PubackSample[]>;
  /** Stops publishing, waits for the PUBACKs in flight, disconnects; then the totals. */
  stop(): Promise<{ sent: number; acked: number; failures: number }>;
}

/** Distinct readings per device; `seq` keeps growing across them. */
const VARIANTS = 100;

/**
 * Connects `devices` and, once all are connected, has each publish one QoS 1 reading every
 * `intervalMs` (their starts spread over one interval, so that they do not arrive together). The
 * readings are the type's bench readings without `ts` (stamped when received), `seq` from `startSeq`.
 */
export async function startPubackDevices(mqttUrl: string, devices: readonly TimedDevice[], intervalMs: number, startSeq = 0): Promise<PubackDevices> {
  // A reading's fields without ts and seq, as the rest of a JSON object (`"a":1,…}`): the worker
  // puts its own seq in front, so it needs no device types.
  const plans = devices.map((d) => {
    const build = readingBuilder(d.type);
    const rests = Array.from({ length: VARIANTS }, (_, s) => {
      const { ts: _ts, seq: _seq, ...fields } = JSON.parse(build(0, startSeq + s)) as Record<string, unknown>;
      return JSON.stringify(fields).slice(1);
    });
    return { id: d.id, secret: d.secret, topic: `city/${d.type}/${d.id}/telemetry`, rests };
  });
  // Plain JavaScript evaluated in the worker; mqtt is loaded by path, so it runs from any directory.
  const code = String.raw`
    const { parentPort, workerData } = require('node:worker_threads');
    const mqtt = require(workerData.mqttPath);
    const { url, plans, intervalMs, startSeq } = workerData;
    const at = [];
    const ms = [];
    let sent = 0;
    let acked = 0;
    let failures = 0;
    const timers = [];
    const clients = plans.map((p) =>
      mqtt.connect(url, { protocolVersion: 4, clientId: p.id, username: p.id, password: p.secret, reconnectPeriod: 0, connectTimeout: 10000 }),
    );
    for (const c of clients) c.on('error', () => failures++);
    Promise.all(clients.map((c) => new Promise((resolve, reject) => { c.once('connect', resolve); c.once('error', reject); })))
      .then(() => {
        plans.forEach((p, i) => {
          let seq = startSeq;
          const publish = () => {
            const s = seq++;
            const wall = Date.now();
            const t0 = performance.now();
            sent++;
            clients[i].publish(p.topic, '{"seq":' + s + ',' + p.rests[(s - startSeq) % p.rests.length], { qos: 1 }, (err) => {
              if (err) return void failures++;
              acked++;
              at.push(wall);
              ms.push(performance.now() - t0);
            });
          };
          timers.push(setTimeout(() => timers.push(setInterval(publish, intervalMs)), (i * intervalMs) / plans.length));
        });
        parentPort.postMessage({ ready: true });
      })
      .catch((err) => parentPort.postMessage({ ready: false, error: String(err) }));
    parentPort.on('message', (m) => {
      if (m === 'samples') parentPort.postMessage({ samples: at.map((a, i) => ({ at: a, ms: ms[i] })) });
      if (m === 'stop') {
        for (const t of timers) clearTimeout(t);
        Promise.all(clients.map((c) => new Promise((resolve) => c.end(false, {}, resolve)))).then(() =>
          parentPort.postMessage({ stopped: { sent, acked, failures } }),
        );
      }
    });
  `;
  const mqttPath = createRequire(import.meta.url).resolve('mqtt');
  const worker = new Worker(code, { eval: true, workerData: { mqttPath, url: mqttUrl, plans, intervalMs, startSeq } });
  const ask = <T>(message: string | undefined, key: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (!(key in m)) return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve(m as T);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      if (message !== undefined) worker.postMessage(message);
    });
  const ready = await ask<{ ready: boolean; error?: string }>(undefined, 'ready');
  if (!ready.ready) {
    await worker.terminate();
    throw new Error(`the timed devices could not connect: ${ready.error}`);
  }
  return {
    samples: async () => (await ask<{ samples: PubackSample[] }>('samples', 'samples')).samples,
    stop: async () => {
      const { stopped } = await ask<{ stopped: { sent: number; acked: number; failures: number } }>('stop', 'stopped');
      await worker.terminate();
      return stopped;
    },
  };
}

/** PUBACK p99 (ms) of the readings published in [from, to), and how many there were. */
export function pubackP99(samples: readonly PubackSample[], w: { from: number; to: number }): { p99: number; n: number } {
  const ms = samples
    .filter((s) => s.at >= w.from && s.at < w.to)
    .map((s) => s.ms)
    .sort((a, b) => a - b);
  return { p99: ms.length ? ms[Math.min(ms.length - 1, Math.floor(0.99 * ms.length))]! : Number.NaN, n: ms.length };
}

/**
 * PUBACK p99 of each slice of about `sliceMs` of each of `windows` (a window of 1 s with 250 ms
 * slices gives 4), in order: residents-figures.ts says why the residents' bound is taken on slices.
 */
export function pubackP99PerSlice(samples: readonly PubackSample[], windows: readonly { from: number; to: number }[], sliceMs: number): { p99: number; n: number }[] {
  return windows.flatMap((w) => {
    const k = Math.max(1, Math.round((w.to - w.from) / sliceMs));
    const at = (i: number) => w.from + ((w.to - w.from) * i) / k;
    return Array.from({ length: k }, (_, i) => pubackP99(samples, { from: at(i), to: at(i + 1) }));
  });
}

/** The median; the mean of the middle two of an even count. NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
