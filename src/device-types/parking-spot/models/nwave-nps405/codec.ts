/**
 * Nwave NPS 400-series in-ground parking sensor (NPS-4.5 SM/FM, firmware 2.4.9): the occupancy bit of
 * its status, heartbeat, startup and tag-registration packets, and the heartbeat's temperature. The
 * layout follows Nwave's decoder (see README.md); the previous state's duration, the tag id and the
 * battery voltage are not parking-spot fields and are read only as far as the packet's length.
 */
import { type Bytes, type Decoded, decodeWith, Undecodable } from '../../../lorawan.js';

const PORTS = '1 parking status, 2 heartbeat, 3 startup, 6 debug, 10 tag registration';

/** Bit 0 of a status byte is the bay's state; bits 1..7 are the previous state's compressed duration. */
const status = (byte: number): 'occupied' | 'free' => ((byte & 0x01) === 0x01 ? 'occupied' : 'free');

function packet(b: Bytes, fPort: number): Omit<Extract<Decoded, { ok: true }>, 'ok'> {
  switch (fPort) {
    case 1:
      return { fields: { status: status(b.u8('the parking status')) } };
    case 2: {
      const state = b.u8('the heartbeat status');
      b.ignore(1, 'the battery voltage');
      // half degrees around 10 °C: −54 .. 73.5 °C
      const temperature = b.i8('the temperature') / 2 + 10;
      return { fields: { status: status(state), temperature } };
    }
    case 3:
      b.ignore(3, 'the firmware version');
      b.ignore(1, 'the reset cause');
      return { fields: { status: status(b.u8('the occupancy')) } };
    case 6:
      return { fields: {} };
    case 10: {
      // A tag registration says "occupied" when its bit 0 is set and nothing about the bay otherwise.
      const state = b.u8('the registration status');
      b.u32be('the tag id');
      return { fields: (state & 0x01) === 0x01 ? { status: 'occupied' } : {} };
    }
    default:
      throw new Undecodable(`not a port the Nwave NPS sends on (${PORTS})`);
  }
}

export function decodeNps405(bytes: Uint8Array, fPort: number): Decoded {
  return decodeWith(bytes, fPort, packet);
}
