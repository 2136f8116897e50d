/**
 * What Milesight's ultrasonic bin sensors (EM310-UDL, EM400-UDL) share: the periodic packet's
 * channels as waste-bin fields, and the simulator's packet for a reading. The models differ only in
 * their channel ids (and the EM400-UDL's thermometer); each model's codec reads its own channels.
 *
 * The position (tilt) channel: the device knows only upright (0) and tilted (1), which citypipe
 * reads as the status `ok` and `moved`; any other byte is `unknown` (the vendor's decoder says
 * `unknown` too).
 */
import { toWire, type Decoded, type Frame, type Measured } from '../../lorawan.js';

/** Milesight's LoRaWAN application port for uplinks. */
export const UDL_PORT = 85;

/** A channel's id and type as one number, e.g. 0x0382. */
export const channel = (id: number, type: number): number => (id << 8) | type;
export const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

/** The waste-bin status of a position byte. */
export function statusOfPosition(position: number): 'ok' | 'moved' | 'unknown' {
  return position === 0 ? 'ok' : position === 1 ? 'moved' : 'unknown';
}

/**
 * For the encoders: the position byte of a status. `unknown` goes out as 2; the type's other
 * statuses (`lidOpen`, `dropped`, …) are nothing this sensor measures: no position channel.
 */
const POSITION_OF_STATUS: Readonly<Record<string, number>> = { ok: 0, moved: 1, unknown: 2 };

/** The values a model's channels held. */
export interface UdlChannels {
  battery?: number;
  temperature?: number;
  distance?: number;
  position?: number;
}

/** A packet's channels as waste-bin fields; a packet without a distance is no reading (no fields). */
export function udlReading(c: UdlChannels): Omit<Extract<Decoded, { ok: true }>, 'ok'> {
  const batteryPercent = c.battery !== undefined && c.battery <= 100 ? { batteryPercent: c.battery } : {};
  if (c.distance === undefined) return { fields: {}, ...batteryPercent };
  return {
    fields: {
      distanceMm: c.distance,
      // Saturated at the waste-bin field's limits (-40..120 °C) rather than dropped: a bin hotter than
      // 120 °C must still raise the fire rule, and the distance must not be lost with it.
      ...(c.temperature === undefined ? {} : { temperature: Math.min(120, Math.max(-40, c.temperature)) }),
      ...(c.position === undefined ? {} : { status: statusOfPosition(c.position) }),
    },
    ...batteryPercent,
  };
}

/** A model's channel ids (two bytes each: id, type) in its periodic packet; no `temperature`: no thermometer. */
export interface UdlLayout {
  readonly temperature?: readonly [number, number];
  readonly distance: readonly [number, number];
  readonly position: readonly [number, number];
}

/**
 * The simulator's periodic packet for a reading, channels in the devices' order: battery (when
 * given), temperature (when given and the model has one), distance, position (from `status`). Values
 * are rounded and clamped into what a channel carries (battery 0..100 %, temperature int16 in 0.1 °C,
 * distance uint16 mm). A reading without a distance gives no frame: the device always measures one,
 * and a packet without it is no reading.
 */
export function encodeUdl(layout: UdlLayout, fields: Measured, batteryPercent: number | undefined): readonly Frame[] {
  const distance = toWire(fields['distanceMm'], 1, 0, 0xffff);
  if (distance === undefined) return [];
  const out: number[] = [];
  const battery = toWire(batteryPercent, 1, 0, 100);
  if (battery !== undefined) out.push(0x01, 0x75, battery);
  const temperature = layout.temperature && toWire(fields['temperature'], 10, -0x8000, 0x7fff);
  if (layout.temperature && temperature !== undefined) out.push(...layout.temperature, temperature & 0xff, (temperature >> 8) & 0xff);
  out.push(...layout.distance, distance & 0xff, distance >> 8);
  const position = POSITION_OF_STATUS[String(fields['status'])];
  if (position !== undefined) out.push(...layout.position, position);
  return [{ fPort: UDL_PORT, bytes: Uint8Array.from(out) }];
}
