/**
 * Bosch Parking Lot Sensor (PLS, TPL110-0292, firmware 0.29.2): the occupancy bit of its status,
 * heartbeat and startup packets, and the heartbeat's temperature when the heartbeat has one (older
 * firmware sends a 1-byte heartbeat). The layout follows Bosch's decoder (see README.md). Device
 * information, usage and debug packets say nothing about the bay.
 */
import { type Bytes, type Decoded, decodeWith, Undecodable } from '../../../lorawan.js';

const PORTS = '1 parking status, 2 heartbeat, 3 startup, 4 device information, 5 device usage, 6 debug';

/** Bit 0 is the bay's state; the other bits are reserved. */
const status = (byte: number): 'occupied' | 'free' => ((byte & 0x01) === 0x01 ? 'occupied' : 'free');

function packet(b: Bytes, fPort: number): Omit<Extract<Decoded, { ok: true }>, 'ok'> {
  switch (fPort) {
    case 1:
      return { fields: { status: status(b.u8('the parking status')) } };
    case 2: {
      const state = status(b.u8('the parking status'));
      return { fields: b.left > 0 ? { status: state, temperature: b.i8('the temperature') } : { status: state } };
    }
    case 3:
      b.ignore(12, 'the debug codes');
      b.ignore(3, 'the firmware version');
      b.ignore(1, 'the reset cause');
      return { fields: { status: status(b.u8('the occupancy')) } };
    case 4:
    case 5:
    case 6:
      return { fields: {} };
    default:
      throw new Undecodable(`not a port the Bosch Parking Lot Sensor sends on (${PORTS})`);
  }
}

export function decodeTpl110(bytes: Uint8Array, fPort: number): Decoded {
  return decodeWith(bytes, fPort, packet);
}
