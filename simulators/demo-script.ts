/**
 * The demo's scripted device: a waste bin that fills up within seconds of the start and is emptied
 * half a minute later, so that someone watching `citypipe demo` sees what citypipe is for within the
 * first minute: a rule raises, a ticket opens, the rule clears, the ticket closes. The rest of the
 * fleet behaves like the real thing, which takes hours to fill a bin. After its act the bin reports
 * a slowly rising fill level like any other.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceRecord } from '../src/catalog/types.js';

/** One step of the act: seconds after the start, and the fill level reported then. */
export interface DemoStep {
  readonly atS: number;
  readonly fillingLevel: number;
}

/** Rising to full (`waste.collect` raises at 0.8) in seconds, emptied (it clears below 0.3) at 30 s. */
export const DEMO_ACT: readonly DemoStep[] = [
  { atS: 2, fillingLevel: 0.55 },
  { atS: 6, fillingLevel: 0.72 },
  { atS: 10, fillingLevel: 0.86 },
  { atS: 30, fillingLevel: 0.04 },
];

export interface DemoScript {
  /** The device the script plays. */
  readonly device: DeviceRecord;
  stop(): Promise<void>;
}

/** The device the script plays: the first waste bin of the catalog that has a secret. */
export function pickScriptedDevice(devices: readonly DeviceRecord[], credentials: ReadonlyMap<string, string>): DeviceRecord | undefined {
  return devices.find((d) => d.type === 'waste-bin' && credentials.has(d.id));
}

/**
 * Plays the act as `device`, then reports every `intervalS` seconds with the fill level rising by
 * 1 % a reading. Connects with the device's own credentials (client id `<id>:demo`).
 */
export async function startDemoScript(opts: { mqttUrl: string; device: DeviceRecord; secret: string; intervalS: number; act?: readonly DemoStep[] }): Promise<DemoScript> {
  const { device } = opts;
  const client: MqttClient = await mqtt.connectAsync(opts.mqttUrl, {
    protocolVersion: 4,
    clientId: `${device.id}:demo`,
    username: device.id,
    password: opts.secret,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
  });
  const topic = `city/${device.type}/${device.id}/telemetry`;
  let seq = 0;
  let level = 0;
  const publish = (fillingLevel: number) => {
    level = fillingLevel;
    const reading = { ts: Date.now(), seq: seq++, fillingLevel: Math.round(fillingLevel * 1000) / 1000, temperature: 14, status: 'ok', batteryLevel: 0.93 };
    client.publish(topic, JSON.stringify(reading), { qos: 1 });
  };
  const timers: NodeJS.Timeout[] = [];
  const act = opts.act ?? DEMO_ACT;
  for (const step of act) timers.push(setTimeout(() => publish(step.fillingLevel), step.atS * 1000));
  const afterS = (act.at(-1)?.atS ?? 0) + opts.intervalS;
  timers.push(
    setTimeout(() => {
      timers.push(setInterval(() => publish(Math.min(0.78, level + 0.01)), opts.intervalS * 1000));
    }, afterS * 1000),
  );
  return {
    device,
    async stop() {
      for (const t of timers) clearTimeout(t);
      await client.endAsync();
    },
  };
}
