/**
 * Dragino LDDS75 uplinks (fPort 2): big-endian words, laid out as Dragino's own decoders read them
 * (`LDDS75/LDDS75_Decoder_V1.1.4.js` and `LDDS75/LDDS75 decoder--TTN.txt` in dragino-end-node-decoder).
 * Three firmware generations share the first bytes:
 *
 *     8 bytes (firmware 1.1.4 and later): battery mV | distance mm | interrupt flag | DS18B20 °C×10 | sensor flag
 *     5 bytes (earlier firmware):         battery mV | distance mm | interrupt flag
 *     4 bytes (earliest firmware):        battery mV | distance mm
 *
 * The battery word is the first one: the community decoder in TheThingsNetwork/lorawan-devices
 * (`vendor/dragino/ldds75.js`) reports it as the distance, which is why this codec follows Dragino's.
 */
import { Undecodable, decodeWith, type Decoded, type Frame, type Measured, toWire } from '../../../lorawan.js';

/** The LDDS75 sends its readings on this port. */
const UPLINK_PORT = 2;

/** The device status packet (model, firmware, band, battery) it sends after joining: no reading. */
const STATUS_PORT = 5;

/**
 * Battery voltage → percent, linear from 3.0 V (0 %) to 3.6 V (100 %), clamped. Dragino reports volts
 * only; its Li-SOCl2 cell holds about 3.6 V for most of its life and falls off near the end, so the
 * percentage is coarse: read it as "replace soon" when it drops, not as a fuel gauge.
 */
export function batteryPercentFromMillivolts(mV: number): number {
  return Math.min(100, Math.max(0, Math.round((mV - 3000) / 6)));
}

/**
 * The inverse of {@link batteryPercentFromMillivolts}: the voltage that reads as `percent`
 * (0 % → 3.0 V, 100 % → 3.6 V).
 */
export function millivoltsFromBatteryPercent(percent: number): number {
  return 3000 + 6 * Math.min(100, Math.max(0, percent));
}

/** The waste-bin fields of one LDDS75 uplink. */
export function decodeLdds75(bytes: Uint8Array, fPort: number): Decoded {
  return decodeWith(bytes, fPort, (b, port) => {
    // The status packet after a join carries no reading: not a dead letter on every join.
    if (port === STATUS_PORT) return { fields: {} };
    if (port !== UPLINK_PORT) throw new Undecodable(`Dragino LDDS75 readings come on port ${UPLINK_PORT} (and its device status on ${STATUS_PORT})`);
    const length = b.left;
    if (length !== 8 && length !== 5 && length !== 4) {
      throw new Undecodable(`${length} bytes: an LDDS75 reading has 8 bytes (firmware 1.1.4 and later), 5 or 4 (earlier firmware)`);
    }
    // The top two bits of the battery word are flags; Dragino masks them off.
    const mV = b.u16be('the battery') & 0x3fff;
    const distance = b.u16be('the distance');
    let temperature: number | undefined;
    if (length === 8) {
      b.u8('the interrupt flag');
      const raw = b.i16be('the DS18B20 temperature');
      if (b.u8('the sensor flag') === 0) throw new Undecodable(`sensor flag 0: no ultrasonic sensor detected (distance ${distance})`);
      // The DS18B20 probe is optional and Dragino documents no "no probe" value: a word of 0 is read as
      // no probe rather than 0.0 °C on every bin without one. A word outside the probe's
      // -55..125 °C is no measurement either: the distance is still a reading. A probe value beyond the
      // waste-bin field's -40..120 °C is saturated at the limit, so a burning bin still raises the fire rule.
      if (raw !== 0 && raw >= -550 && raw <= 1250) temperature = Math.min(120, Math.max(-40, raw / 10));
    }
    if (distance === 0) throw new Undecodable('distance 0: no ultrasonic sensor detected');
    // Below 280 mm (the sensor's blind zone) the distance is coarse but still says "nearly full":
    // kept, so a full bin is not a dead letter (fullDistanceMm of 280 or more reads it as full).
    return {
      fields: { distanceMm: distance, ...(temperature === undefined ? {} : { temperature }) },
      batteryPercent: batteryPercentFromMillivolts(mV),
    };
  });
}


/**
 * The simulator's LDDS75: the 8-byte firmware 1.1.4 reading (fPort 2) it sends: battery mV (from the
 * percent, 3.6 V when none is given: a fresh cell), distance, interrupt flag 0 (a scheduled uplink),
 * DS18B20 temperature ×10 (0, "no probe", when the reading has none), sensor flag 1.
 *
 * What the words can carry: a distance of 0 is the device's "no sensor" code, so the nearest it
 * reports is 1 mm (up to 65535); a temperature is clamped to the probe's −55..125 °C (the codec then
 * saturates it at the bin's −40..120 °C), and one that rounds to 0.0 °C goes out as 0, which the codec
 * reads as no probe, as it would from the real device. A reading without a distance gives no frame.
 */
export function encodeLdds75(fields: Measured, batteryPercent: number | undefined): readonly Frame[] {
  const distance = toWire(fields['distanceMm'], 1, 1, 0xffff);
  if (distance === undefined) return [];
  const mV = Math.round(millivoltsFromBatteryPercent(Number.isFinite(batteryPercent) ? batteryPercent! : 100));
  const temperature = toWire(fields['temperature'], 10, -550, 1250) ?? 0;
  const bytes = Uint8Array.from([mV >> 8, mV & 0xff, distance >> 8, distance & 0xff, 0, (temperature >> 8) & 0xff, temperature & 0xff, 1]);
  return [{ fPort: UPLINK_PORT, bytes }];
}
