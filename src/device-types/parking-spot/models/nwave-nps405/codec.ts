/**
 * Nwave NPS 400-series in-ground parking sensor (NPS-4.5 SM/FM, firmware 2.4.9): the occupancy bit of
 * its status, heartbeat, startup and tag-registration packets, and the heartbeat's temperature. The
 * layout follows Nwave's decoder (see README.md); the previous state's duration, the tag id and the
 * battery voltage are not parking-spot fields and are read only as far as the packet's length.
 */
import { type Bytes, type Decoded, decodeWith, type Frame, type Measured, Undecodable } from '../../../lorawan.js';

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

/**
 * Heartbeat byte 1, the battery as `2.5 V + 4 mV × n`. citypipe reads no battery level from it (a
 * lithium cell's voltage says little about its percent), so a simulated percent has no inverse here:
 * the simulated sensor reports the healthy 3.344 V of Nwave's own example.
 */
const HEARTBEAT_BATTERY = 0xd3;

/**
 * The simulator's frames for a reading in this codec's fields: a heartbeat (port 2) when there is a
 * temperature, since it carries the occupancy too, else a parking status (port 1). The sensor knows
 * only occupied and free: for a `closed` or `unknown` bay (or none) it sends nothing. The battery is
 * not encoded (see {@link HEARTBEAT_BATTERY}).
 */
export function encodeNps405(fields: Measured): readonly Frame[] {
  const state = fields['status'];
  if (state !== 'occupied' && state !== 'free') return [];
  const occupied = state === 'occupied' ? 0x01 : 0x00;
  const t = fields['temperature'];
  if (typeof t === 'number' && Number.isFinite(t)) {
    // Half degrees around 10 °C in a signed byte: rounded, and clamped to -54 .. 73.5 °C.
    const halves = Math.min(127, Math.max(-128, Math.round((t - 10) * 2)));
    // Health bits 1..7 clear: a sound sensor.
    return [{ fPort: 2, bytes: Uint8Array.of(occupied, HEARTBEAT_BATTERY, halves & 0xff) }];
  }
  // Duration bits 1..7 clear ("under a minute"): the simulator does not track the previous state's length.
  return [{ fPort: 1, bytes: Uint8Array.of(occupied) }];
}
