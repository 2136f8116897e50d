/**
 * Milesight EM310-UDL uplinks (fPort 85). A payload is a run of channels, each an id byte, a type
 * byte and a value whose length the pair fixes; the layout is Milesight's decoder
 * (`em-series/em310-udl/em310-udl-decoder.js`). Unlike the EM400-UDL it has no temperature, and
 * its channel 4 is the position (the EM400-UDL's is the distance). See this folder's README.
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
    if (port !== UDL_PORT) throw new Undecodable(`Milesight EM310-UDL uplinks come on port ${UDL_PORT}`);
    return udlReading(readChannels(b));
  });
}

/** The simulator's EM310-UDL: its periodic packet for a reading (`encodeUdl`). */
export function encodeEm310Udl(fields: Measured, batteryPercent: number | undefined): readonly Frame[] {
  return encodeUdl(LAYOUT, fields, batteryPercent);
}

/** Its channels, as `encodeUdl` writes them. */
const LAYOUT = { distance: [0x03, 0x82], position: [0x04, 0x00] } as const;
