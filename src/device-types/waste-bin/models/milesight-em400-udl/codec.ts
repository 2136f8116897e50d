/**
 * Milesight EM400-UDL uplinks (fPort 85). A payload is a run of channels, each an id byte, a type
 * byte and a value whose length the pair fixes; the layout is Milesight's decoder
 * (`em-series/em400-udl/em400-udl-decoder.js`). See this folder's README for the mapping.
 */
import { Undecodable, decodeWith, type Bytes, type Decoded, type Frame, type Measured } from '../../../lorawan.js';
import { channel, encodeUdl, hex, UDL_PORT, udlReading } from '../milesight-udl.js';



/**
 * Channels that carry no reading, with the length of their value: device information sent on join
 * (0xFF) and the answers to configuration downlinks (0xFE/0xFF), as the vendor decoder reads them.
 */
const NO_READING: ReadonlyMap<number, number> = new Map([
  // ipso version, hardware, firmware, TSL version, serial number, class, reset, power on
  ...([[0x01, 1], [0x09, 2], [0x0a, 2], [0xff, 2], [0x16, 8], [0x0f, 1], [0xfe, 1], [0x0b, 1]] as const).map(([t, n]) => [channel(0xff, t), n] as const),
  // collection and report intervals, alarm config, reboot, install height, recollection, status query,
  // tilt linkage, time sync, ToF detection, people height, working mode
  ...([[0x02, 2], [0x03, 2], [0x06, 9], [0x10, 1], [0x13, 1], [0x1c, 2], [0x28, 1], [0x3e, 1], [0x4a, 1], [0x56, 1], [0x70, 2], [0x71, 1]] as const).flatMap(([t, n]) => [
    [channel(0xfe, t), n] as const,
    [channel(0xff, t), n] as const,
  ]),
]);

function readChannels(b: Bytes): { battery?: number; temperature?: number; distance?: number; position?: number } {
  const out: { battery?: number; temperature?: number; distance?: number; position?: number } = {};
  while (b.left > 0) {
    const at = b.position;
    const id = b.u8('a channel id');
    const type = b.u8('a channel type');
    switch (channel(id, type)) {
      case 0x0175:
        out.battery = b.u8('the battery');
        break;
      case 0x0367:
        out.temperature = b.i16le('the temperature') / 10;
        break;
      case 0x0482:
        out.distance = b.u16le('the distance');
        break;
      case 0x0500:
        out.position = b.u8('the position');
        break;
      case 0x8367: // temperature with its alarm status (a change of more than 5 °C)
        out.temperature = b.i16le('the temperature') / 10;
        b.u8('the temperature alarm status');
        break;
      case 0x8482: // distance with its threshold alarm status
        out.distance = b.u16le('the distance');
        b.u8('the distance alarm status');
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

/** The waste-bin fields of one EM400-UDL uplink; packets without a distance are not readings (no fields). */
export function decodeEm400Udl(bytes: Uint8Array, fPort: number): Decoded {
  return decodeWith(bytes, fPort, (b, port) => {
    if (port !== UDL_PORT) throw new Undecodable(`Milesight EM400-UDL uplinks come on port ${UDL_PORT}`);
    return udlReading(readChannels(b));
  });
}

/** The simulator's EM400-UDL: its periodic packet for a reading (`encodeUdl`). */
export function encodeEm400Udl(fields: Measured, batteryPercent: number | undefined): readonly Frame[] {
  return encodeUdl(LAYOUT, fields, batteryPercent);
}

/** Its channels, as `encodeUdl` writes them. */
const LAYOUT = { temperature: [0x03, 0x67], distance: [0x04, 0x82], position: [0x05, 0x00] } as const;
