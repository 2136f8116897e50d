/**
 * The demo's scripted device: one device plays its type's demo act (`demo.act` in
 * `src/device-types/<type>/demo.ts`; the waste bin's fills up within seconds of the start and is
 * emptied half a minute later), so that someone watching `citypipe demo` sees what citypipe is for
 * within the first minute: a rule raises, a ticket opens, the rule clears, the ticket closes. The
 * rest of the fleet behaves like the real thing, which takes hours to fill a bin. After its act the
 * device goes on reporting as the act's `next` says.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceRecord } from '../src/catalog/types.js';
import type { DemoAct } from '../src/device-types/module.js';
import { deviceTypeModule } from '../src/device-types/registry.js';

export interface DemoScript {
  /** The device the script plays. */
  readonly device: DeviceRecord;
  stop(): Promise<void>;
}

/** The device the script plays: the first device of the catalog whose type has a demo act and that has a secret. */
export function pickScriptedDevice(devices: readonly DeviceRecord[], credentials: ReadonlyMap<string, string>): DeviceRecord | undefined {
  return devices.find((d) => deviceTypeModule(d.type)?.demo.act !== undefined && credentials.has(d.id));
}

/**
 * Plays the act of `device`'s type as `device`, then reports every `intervalS` seconds as the act's
 * `next` says. Connects with the device's own credentials (client id `<id>:demo`).
 */
export async function startDemoScript(opts: { mqttUrl: string; device: DeviceRecord; secret: string; intervalS: number; act?: DemoAct }): Promise<DemoScript> {
  const { device } = opts;
  const act = opts.act ?? deviceTypeModule(device.type)?.demo.act;
  if (act === undefined) throw new Error(`device type ${device.type} has no demo act`);
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
  let last = 0;
  const publish = (value: number) => {
    last = value;
    const reading = { ts: Date.now(), seq: seq++, ...act.reading(value) };
    client.publish(topic, JSON.stringify(reading), { qos: 1 });
  };
  const timers: NodeJS.Timeout[] = [];
  for (const step of act.steps) timers.push(setTimeout(() => publish(step.value), step.atS * 1000));
  const afterS = (act.steps.at(-1)?.atS ?? 0) + opts.intervalS;
  timers.push(
    setTimeout(() => {
      timers.push(setInterval(() => publish(act.next(last)), opts.intervalS * 1000));
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
