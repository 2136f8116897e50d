/**
 * Bosch Parking Lot Sensor (PLS, TPL110-0292, firmware 0.29.2): the occupancy bit of its status,
 * heartbeat and startup packets, and the heartbeat's temperature when the heartbeat has one (older
 * firmware sends a 1-byte heartbeat). The layout follows Bosch's decoder (see README.md). Device
 * information, usage and debug packets say nothing about the bay.
 */
import { type Bytes, type Decoded, decodeWith, type Frame, type Measured, Undecodable } from '../../../lorawan.js';

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

/**
 * The simulator's frames for a reading in this codec's fields: a 2-byte heartbeat (port 2) when there
 * is a temperature, since it carries the occupancy too, else a parking status (port 1). The sensor
 * knows only occupied and free: for a `closed` or `unknown` bay (or none) it sends nothing. None of its
 * packets carries a battery level, so there is none to encode.
 */
export function encodeTpl110(fields: Measured): readonly Frame[] {
  const state = fields['status'];
  if (state !== 'occupied' && state !== 'free') return [];
  // Reserved bits 1..7 clear.
  const occupied = state === 'occupied' ? 0x01 : 0x00;
  const t = fields['temperature'];
  if (typeof t === 'number' && Number.isFinite(t)) {
    // Whole degrees in a signed byte: rounded, and clamped to -128 .. 127 °C.
    const degrees = Math.min(127, Math.max(-128, Math.round(t)));
    return [{ fPort: 2, bytes: Uint8Array.of(occupied, degrees & 0xff) }];
  }
  return [{ fPort: 1, bytes: Uint8Array.of(occupied) }];
}
