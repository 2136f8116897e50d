/**
 * Milesight EM310-UDL uplinks (fPort 85). A payload is a run of channels, each an id byte, a type
 * byte and a value whose length the pair fixes; the layout is Milesight's decoder
 * (`em-series/em310-udl/em310-udl-decoder.js`). Unlike the EM400-UDL it has no temperature, and
 * its channel 4 is the position (the EM400-UDL's is the distance). See this folder's README.
 */
import { Undecodable, decodeWith, type Bytes, type Decoded, type Frame, type Measured, toWire } from '../../../lorawan.js';
import { POSITION_OF_STATUS, statusOfPosition } from '../milesight-position.js';

/** Milesight's LoRaWAN application port for uplinks. */
const UPLINK_PORT = 85;

const channel = (id: number, type: number): number => (id << 8) | type;
const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

/**
 * Channels that carry no reading, with the length of their value: device information sent on join
 * (0xFF) and the answers to configuration downlinks (0xFE/0xFF), as the vendor decoder reads them.
 */
const NO_READING: ReadonlyMap<number, number> = new Map([
  // ipso version, hardware, firmware, TSL version, serial number, class, reset, power on
  ...([[0x01, 1], [0x09, 2], [0x0a, 2], [0xff, 2], [0x16, 8], [0x0f, 1], [0xfe, 1], [0x0b, 1]] as const).map(([t, n]) => [channel(0xff, t), n] as const),
  // reboot, collection and report intervals, distance alarm config
  ...([[0x10, 1], [0x02, 2], [0x03, 2], [0x06, 9]] as const).flatMap(([t, n]) => [[channel(0xfe, t), n] as const, [channel(0xff, t), n] as const]),
]);

function readChannels(b: Bytes): { battery?: number; distance?: number; position?: number } {
  const out: { battery?: number; distance?: number; position?: number } = {};
  while (b.left > 0) {
    const at = b.position;
    const id = b.u8('a channel id');
    const type = b.u8('a channel type');
    switch (channel(id, type)) {
      case 0x0175:
        out.battery = b.u8('the battery');
        break;
      case 0x0382:
        out.distance = b.u16le('the distance');
        break;
      case 0x0400:
        out.position = b.u8('the position');
        break;
      default: {
        const length = NO_READING.get(channel(id, type));
        if (length === undefined) throw new Undecodable(`unknown channel ${hex(id)} type ${hex(type)} at byte ${at}`);
        b.ignore(length, `the value of channel ${hex(id)} type ${hex(type)}`);
      }
    }
  }
  return out;
}

/** The waste-bin fields of one EM310-UDL uplink; packets without a distance are not readings (no fields). */
export function decodeEm310Udl(bytes: Uint8Array, fPort: number): Decoded {
  return decodeWith(bytes, fPort, (b, port) => {
    if (port !== UPLINK_PORT) throw new Undecodable(`Milesight EM310-UDL uplinks come on port ${UPLINK_PORT}`);
    const { battery, distance, position } = readChannels(b);
    const batteryPercent = battery !== undefined && battery <= 100 ? { batteryPercent: battery } : {};
    if (distance === undefined) return { fields: {}, ...batteryPercent };
    return {
      fields: {
        distanceMm: distance,
        ...(position === undefined ? {} : { status: statusOfPosition(position) }),
      },
      ...batteryPercent,
    };
  });
}



/**
 * The simulator's EM310-UDL: the periodic packet (fPort 85) it sends for a reading, channels in the
 * device's order: battery (when given), distance, position (from `status`). It has no thermometer, so a
 * temperature is left out. Values are rounded and clamped into what a channel carries (battery
 * 0..100 %, distance uint16 mm). A reading without a distance gives no frame: the device always
 * measures one, and a packet without it is no reading.
 */
export function encodeEm310Udl(fields: Measured, batteryPercent: number | undefined): readonly Frame[] {
  const distance = toWire(fields['distanceMm'], 1, 0, 0xffff);
  if (distance === undefined) return [];
  const out: number[] = [];
  const battery = toWire(batteryPercent, 1, 0, 100);
  if (battery !== undefined) out.push(0x01, 0x75, battery);
  out.push(0x03, 0x82, distance & 0xff, distance >> 8);
  const position = POSITION_OF_STATUS[String(fields['status'])];
  if (position !== undefined) out.push(0x04, 0x00, position);
  return [{ fPort: UPLINK_PORT, bytes: Uint8Array.from(out) }];
}
