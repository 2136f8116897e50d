/**
 * NAS UL20xx luminaire controllers (UL2002, UL2014, UL2030): the status packet (firmware 1.1.x, fPort 23)
 * and the usage packet (1.1.x on fPort 26, 1.0.x on fPort 25), in streetlight fields. The layouts follow
 * NAS's payload description and its published decoder (nasys/nas-codecs); all integers are little-endian
 * and bit fields are read from the least significant bit. See README.md for the mapping.
 */
import { Bytes, decodeWith, Undecodable, type Decoded, type Frame, type Measured } from '../../../lorawan.js';

/** Firmware 1.1.x status packet. */
export const STATUS_PORT = 23;
/** Firmware 1.1.x usage packet (a header byte 0x00, then the 1.0.x layout). */
export const USAGE_PORT = 26;
/** Firmware 1.0.x status packet: profiles and alerts, but no lamp state; refused. */
export const LEGACY_STATUS_PORT = 24;
/** Firmware 1.0.x usage packet. */
export const LEGACY_USAGE_PORT = 25;

/** A dimming level byte that means "no level" (e.g. the relay is off), and a DALI status byte that means "no status". */
const NONE = 0xff;
/** The consumption entry of the controller's own meter; other addresses are DALI (D4i) drivers. */
const INTERNAL_METER = 0xff;

/** Payload bytes after each sensor-source header of a 1.1.4+ status packet. */
const SENSOR_SOURCE_SIZE: Readonly<Record<number, number>> = { 0x01: 1, 0x02: 2, 0x03: 2, 0x04: 1, 0x08: 1 };
const LIGHT_SENSORS = new Set([0x02, 0x03]);

const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

export function decodeUl20xx(bytes: Uint8Array, fPort: number): Decoded {
  return decodeWith(bytes, fPort, (b, port) => {
    switch (port) {
      case STATUS_PORT:
        return { fields: status(b) };
      case USAGE_PORT: {
        const header = b.u8('the packet header');
        if (header !== 0) throw new Undecodable(`usage packet header ${hex(header)}, expected 0x00`);
        return { fields: usage(b) };
      }
      case LEGACY_USAGE_PORT:
        return { fields: usage(b) };
      case LEGACY_STATUS_PORT:
        throw new Undecodable('a firmware 1.0.x status packet has no lamp state (update the controller to 1.1.x, whose status packet is on fPort 23)');
      default:
        throw new Undecodable(`not a UL20xx data packet: status on fPort ${STATUS_PORT}, usage on ${USAGE_PORT} (firmware 1.1.x) or ${LEGACY_USAGE_PORT} (1.0.x)`);
    }
  });
}

interface DimmingSource {
  /** Commanded level in %, or undefined when the controller reports none. */
  readonly level: number | undefined;
  /** The DALI driver's status byte, or undefined when it reports none (0xFF). */
  readonly dali: number | undefined;
}

function status(b: Bytes): Measured {
  const header = b.u8('the packet header');
  if (header > 1) throw new Undecodable(`status packet header ${hex(header)}, expected 0x00 or 0x01`);
  // Header 0x00 is firmware before 1.1.4: no second flag byte, no sensor sources, optional LDR and alerts.
  const before114 = header === 0;
  b.ignore(4, 'the device time');
  const relayClosed = (b.u8('the status flags') & 0x80) !== 0;
  if (!before114) b.ignore(1, 'the second status flags');
  b.ignore(3, 'the downlink RSSI, SNR and MCU temperature');
  let alertsSent = true;
  if (before114) {
    const reported = b.u8('the reported-fields flags');
    if (reported & 0x02) b.ignore(1, 'the LDR value');
    alertsSent = (reported & 0x10) !== 0;
  }
  // The 24-hour alerts (voltage, lamp, power, power factor) look back a day; the DALI status below is now.
  if (alertsSent) b.ignore(1, 'the alerts');
  const ambientLight = before114 ? undefined : sensorSources(b);

  const sources: DimmingSource[] = [];
  while (b.left > 0) {
    b.ignore(2, 'a dimming source address and reason');
    const level = b.u8('a dimming level');
    if (level !== NONE && level > 100) throw new Undecodable(`dimming level ${level} % is above 100`);
    const dali = b.u8('a DALI status');
    sources.push({ level: level === NONE ? undefined : level, dali: dali === NONE ? undefined : dali });
  }

  const levels = sources.flatMap((s) => (s.level === undefined ? [] : [s.level]));
  const statuses = sources.flatMap((s) => (s.dali === undefined ? [] : [s.dali]));
  const fields: Record<string, number | string> = {};
  if (statuses.length > 0) {
    // DALI status bits: 0 driver error, 1 lamp failure, 2 lamp on.
    fields['powerState'] = statuses.some((s) => s & 0x04) ? 'on' : 'off';
    fields['status'] = statuses.some((s) => s & 0x03) ? 'defectiveLamp' : 'ok';
  } else {
    // No driver reports its state (a 0-10 V driver, or one the open relay leaves unpowered).
    if (relayClosed && levels.length === 0) throw new Undecodable('status packet with the relay closed reports neither a lamp state nor a dimming level');
    fields['powerState'] = relayClosed && levels.some((l) => l > 0) ? 'on' : 'off';
  }
  if (levels.length > 0) fields['illuminanceLevel'] = Math.max(...levels) / 100;
  if (ambientLight !== undefined) fields['ambientLight'] = ambientLight;
  return fields;
}

/** Reads the sensor sources (a length, then header + payload each); gives the first light sensor's lux. */
function sensorSources(b: Bytes): number | undefined {
  let left = b.u8('the sensor-source length');
  let lux: number | undefined;
  while (left > 0) {
    const kind = b.u8('a sensor-source header');
    left -= 1;
    const size = SENSOR_SOURCE_SIZE[kind];
    // A source this codec does not know: the length lets the rest be skipped, as NAS's decoder does.
    if (size === undefined) {
      b.ignore(left, 'the sensor sources');
      break;
    }
    if (size > left) throw new Undecodable(`sensor source ${hex(kind)} needs ${size} bytes, the sensor-source length leaves ${left}`);
    if (LIGHT_SENSORS.has(kind)) {
      const raw = b.u16le('a light level');
      if (raw !== 0xffff) lux ??= luxOf(raw);
    } else {
      b.ignore(size, 'a sensor value');
    }
    left -= size;
  }
  return lux;
}

/** Light level: lx = 10^(raw/4000) / 1000 (15 bits), to four significant digits as NAS shows it. */
function luxOf(raw: number): number {
  const lx = 10 ** ((raw & 0x7fff) / 4000) / 1000;
  const decimals = 3 - Math.trunc(Math.min(3, Math.max(0, Math.log10(lx))));
  return Number(lx.toFixed(decimals));
}

interface Consumption {
  energyWh?: number;
  powerW?: number;
  powerFactor?: number;
  voltage?: number;
}

function usage(b: Bytes): Measured {
  let internal: Consumption | undefined;
  const drivers: Consumption[] = [];
  while (b.left > 0) {
    const address = b.u8('a consumption address');
    const flags = b.u8('the consumption flags');
    const c: Consumption = {};
    if (flags & 0x01) c.energyWh = b.u32le('the active energy');
    if (flags & 0x02) c.powerW = b.u16le('the active power');
    if (flags & 0x04) b.ignore(4, 'the load-side energy');
    if (flags & 0x08) b.ignore(2, 'the load-side power');
    if (flags & 0x10) {
      const pf = b.u8('the power factor');
      if (pf !== NONE && pf > 100) throw new Undecodable(`power factor ${pf / 100} is above 1`);
      if (pf !== NONE) c.powerFactor = pf / 100;
    }
    if (flags & 0x20) c.voltage = b.u8('the mains voltage');
    if (flags & 0x40) b.ignore(4, 'the driver operating time');
    if (flags & 0x80) b.ignore(4, 'the lamp-on time');
    if (address === INTERNAL_METER) internal = c;
    else drivers.push(c);
  }
  // The controller's meter sees the whole luminaire; without it, the D4i drivers' own meters add up.
  const sum = (k: 'energyWh' | 'powerW'): number | undefined => internal?.[k] ?? total(drivers.map((d) => d[k]));
  const first = (k: 'powerFactor' | 'voltage'): number | undefined => internal?.[k] ?? drivers.find((d) => d[k] !== undefined)?.[k];
  const fields: Record<string, number> = {};
  const powerW = sum('powerW');
  const energyWh = sum('energyWh');
  const voltage = first('voltage');
  const powerFactor = first('powerFactor');
  if (powerW !== undefined) fields['powerConsumption'] = powerW;
  if (voltage !== undefined) fields['voltage'] = voltage;
  if (powerFactor !== undefined) fields['powerFactor'] = powerFactor;
  if (energyWh !== undefined) fields['energyConsumed'] = energyWh / 1000;
  return fields;
}

function total(values: readonly (number | undefined)[]): number | undefined {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length === 0 ? undefined : present.reduce((a, v) => a + v, 0);
}

/*
 * The simulator's encoder: the packets a controller with one DALI driver and its own meter sends for a
 * reading (see README.md, "Encoder").
 */

/** DALI status bits of a dimming source. */
const DALI_LAMP_FAILURE = 0x02;
const DALI_LAMP_ON = 0x04;
/** Status flags: the internal relay is closed (the driver is powered, so it reports its DALI status). */
const RELAY_CLOSED = 0x80;
/** The dimming source's address: DALI broadcast, as a controller with one driver reports it. */
const DALI_BROADCAST = 0xfe;
/** Dimming reasons: the calendar's night and day steps. */
const REASON_NIGHT = 0x22;
const REASON_DAY = 0x21;
/** Sensor-source header of the controller's light sensor. */
const LIGHT_SENSOR = 0x02;
/** Usage flags: active energy, active power, power factor, mains voltage. */
const ENERGY = 0x01;
const POWER = 0x02;
const POWER_FACTOR = 0x10;
const VOLTAGE = 0x20;
/** Device time when the reading has no `ts` (2025-01-01): the decoder ignores it, the network server gives the time. */
const FALLBACK_EPOCH_S = 1_735_689_600;
/** Dim level of a `low` lamp whose reading gives none. */
const LOW_LEVEL = 50;

const USAGE_FIELDS = ['powerConsumption', 'voltage', 'powerFactor', 'energyConsumed'] as const;
const STATUS_FIELDS = ['powerState', 'status', 'illuminanceLevel', 'ambientLight'] as const;

/**
 * The frames a UL20xx (firmware 1.1.x) sends for a reading in the codec's field names: a status packet
 * (fPort 23) for the lamp fields, a usage packet (fPort 26, the controller's meter) for the meter fields,
 * both when both kinds are given. Values are clamped and rounded to what the wire carries; other fields
 * (`current`, `ts`, …) and the battery (the controller is mains-powered) are not sent. Never throws.
 */
export function encodeUl20xx(fields: Measured, _batteryPercent?: number): readonly Frame[] {
  const frames: Frame[] = [];
  if (STATUS_FIELDS.some((k) => fields[k] !== undefined)) frames.push({ fPort: STATUS_PORT, bytes: statusPacket(fields) });
  if (USAGE_FIELDS.some((k) => num(fields[k]) !== undefined)) frames.push({ fPort: USAGE_PORT, bytes: usagePacket(fields) });
  return frames;
}

function statusPacket(fields: Measured): Uint8Array {
  const state = fields['powerState'];
  // `low` and `bootingUp` are a lit lamp: the DALI status knows on and off only.
  const lit = state === 'on' || state === 'low' || state === 'bootingUp';
  const given = num(fields['illuminanceLevel']);
  let level = given === undefined ? NONE : clampRound(given * 100, 0, 100);
  if (state === 'low') level = given === undefined ? LOW_LEVEL : clampRound(given * 100, 1, 99);
  // A DALI driver reports a failed lamp; a broken lantern or a column is nothing it can see.
  const dali = (lit ? DALI_LAMP_ON : 0) | (fields['status'] === 'defectiveLamp' ? DALI_LAMP_FAILURE : 0);

  const lux = num(fields['ambientLight']);
  const sensors = lux === undefined ? [0] : [3, LIGHT_SENSOR, ...u16le(luxRaw(lux))];
  return Uint8Array.from([
    0x01, // header: firmware 1.1.4 and later
    ...u32le(deviceTime(fields['ts'])),
    RELAY_CLOSED,
    0x00, // second status flags
    0x3c, // downlink RSSI -60 dBm
    0x07, // downlink SNR 7 dB
    0x14, // MCU temperature 20 °C
    0x00, // no 24-hour alerts
    ...sensors,
    DALI_BROADCAST,
    lit ? REASON_NIGHT : REASON_DAY,
    level,
    dali,
  ]);
}

function usagePacket(fields: Measured): Uint8Array {
  const energy = num(fields['energyConsumed']);
  const power = num(fields['powerConsumption']);
  const pf = num(fields['powerFactor']);
  const voltage = num(fields['voltage']);
  const flags = (energy === undefined ? 0 : ENERGY) | (power === undefined ? 0 : POWER) | (pf === undefined ? 0 : POWER_FACTOR) | (voltage === undefined ? 0 : VOLTAGE);
  // The entries follow the flag bits' order, as the decoder reads them.
  return Uint8Array.from([
    0x00, // header
    INTERNAL_METER,
    flags,
    ...(energy === undefined ? [] : u32le(clampRound(energy * 1000, 0, 0xffffffff))),
    ...(power === undefined ? [] : u16le(clampRound(power, 0, 0xffff))),
    ...(pf === undefined ? [] : [clampRound(pf * 100, 0, 100)]),
    // One byte of volts: a 400 V three-phase reading is sent as 255 V.
    ...(voltage === undefined ? [] : [clampRound(voltage, 0, 0xff)]),
  ]);
}

/** The raw light level for lx: the inverse of {@link luxOf}, 0.001 lx to about 155 klx. */
function luxRaw(lx: number): number {
  return lx > 0 ? clampRound(4000 * Math.log10(lx * 1000), 0, 0x7fff) : 0;
}

/** Seconds since 1970 of a reading's `ts` (epoch ms or ISO 8601), else a fixed time. */
function deviceTime(ts: number | string | undefined): number {
  const ms = typeof ts === 'number' ? ts : typeof ts === 'string' ? Date.parse(ts) : Number.NaN;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(Math.floor(ms / 1000), 0xffffffff) : FALLBACK_EPOCH_S;
}

function num(v: number | string | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function clampRound(v: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.round(v)));
}

function u16le(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}

function u32le(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
