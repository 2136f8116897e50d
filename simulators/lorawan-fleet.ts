/**
 * LoRaWAN devices behind a simulated network server: one MQTT connection as a network-server account
 * (as ChirpStack's MQTT integration connects), publishing each catalog device's uplinks as ChirpStack
 * `up` events at QoS 1. The bytes are the model's sample frames (real frames of the device, from its
 * golden vectors), taken in turn; the frame counter counts up per device. For `citypipe demo` and
 * `citypipe simulate`.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceRecord } from '../src/catalog/types.js';
import { hexBytes } from '../src/device-types/lorawan.js';
import { lorawanModel } from '../src/device-types/registry.js';
import { chirpstackTopic, chirpstackUp } from './network-server.js';

export interface LorawanFleetOptions {
  mqttUrl: string;
  /** A network-server account (`devices account NAME --role network-server`). */
  username: string;
  password: string;
  /** Catalog devices; those without `lorawan` are left out. */
  devices: readonly DeviceRecord[];
  intervalS: number;
  /** First uplinks spread over this many ms (default: the interval). */
  firstWithinMs?: number;
}

export interface LorawanFleet {
  /** LoRaWAN devices driven. */
  readonly devices: number;
  stats(): { published: number; failed: number };
  stop(): Promise<void>;
}

/** The catalog devices a simulated network server can drive: LoRaWAN ones whose model has sample frames. */
export function lorawanDevices(devices: readonly DeviceRecord[]): DeviceRecord[] {
  return devices.filter((d) => d.lorawan !== undefined && (lorawanModel(d.lorawan.model)?.model.samples.length ?? 0) > 0);
}

export async function startLorawanFleet(opts: LorawanFleetOptions): Promise<LorawanFleet> {
  const devices = lorawanDevices(opts.devices);
  const counts = { published: 0, failed: 0 };
  if (devices.length === 0) return { devices: 0, stats: () => ({ ...counts }), stop: async () => {} };
  const client: MqttClient = await mqtt.connectAsync(opts.mqttUrl, {
    username: opts.username,
    password: opts.password,
    clientId: `${opts.username}:sim`,
    protocolVersion: 4,
    reconnectPeriod: 1000,
  });
  const timers: NodeJS.Timeout[] = [];
  const intervalMs = opts.intervalS * 1000;
  devices.forEach((d, i) => {
    const model = lorawanModel(d.lorawan!.model)!.model;
    let fCnt = 0;
    const send = () => {
      const sample = model.samples[fCnt % model.samples.length]!;
      fCnt++;
      const body = chirpstackUp({ devEui: d.lorawan!.devEui, fPort: sample.fPort, bytes: hexBytes(sample.bytes), fCnt, timeMs: Date.now(), rssi: -80 - (i % 30) });
      client.publishAsync(chirpstackTopic(d.lorawan!.devEui, 'up'), body, { qos: 1 }).then(
        () => counts.published++,
        () => counts.failed++,
      );
    };
    const first = Math.floor(((opts.firstWithinMs ?? intervalMs) * (i + 0.5)) / devices.length);
    timers.push(
      setTimeout(() => {
        send();
        timers.push(setInterval(send, intervalMs));
      }, first),
    );
  });
  return {
    devices: devices.length,
    stats: () => ({ ...counts }),
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      await client.endAsync().catch(() => undefined);
    },
  };
}
