/**
 * Sensors behind a LoRaWAN network server (CONTRACT §7). A device model is one folder,
 * `src/device-types/<type>/models/<model>/`: a codec of the raw uplink bytes (`codec.ts`), golden
 * vectors taken from the vendor's own decoder (`vectors.json`), and a README with the device's
 * fields and how they map. The type's `index.ts` lists its models (`lorawan.models`) and says how a
 * decoded uplink becomes one of its readings (`lorawan.complete`: e.g. a bin's fill ratio from the
 * measured distance and the catalog's container depth).
 *
 * A codec is pure and total: any bytes on any port give either fields or a reason, never a throw.
 */
import type { DeviceRecord } from '../catalog/types.js';

/** What a codec measured, in the device type's field names (plus fields `complete` derives from, e.g. `distanceMm`). */
export type Measured = Readonly<Record<string, number | string>>;

/** A codec's answer for one uplink. */
export type Decoded =
  | {
      readonly ok: true;
      /** The type's fields the packet carries (without `ts`, `seq`, `rssi`: the network server gives those). */
      readonly fields: Measured;
      /** Battery in percent (0..100) when the packet carries it; citypipe writes `batteryLevel` = percent / 100. */
      readonly batteryPercent?: number;
    }
  | {
      readonly ok: false;
      /** Why, for the dead letter: e.g. `fPort 85: 3 bytes, a distance packet needs 4`. */
      readonly reason: string;
    };

/** One LoRaWAN device model: `src/device-types/<type>/models/<name>/index.ts` exports one. */
export interface LorawanModel {
  /** The catalog's `lorawan.model`, e.g. `milesight-em400-udl`. */
  readonly name: string;
  /** Vendor and product, e.g. `Milesight EM400-UDL ultrasonic distance sensor`. */
  readonly product: string;
  /** The vendor decoder the golden vectors come from: repository, file and version (or commit). */
  readonly vectorsFrom: string;
  decode(bytes: Uint8Array, fPort: number): Decoded;
  /**
   * The simulator's inverse of `decode`: the frames this device would send for a reading (in the
   * codec's field names, as `decode` returns them) and its battery. Fields a frame cannot carry are
   * left out. `decode` of each frame gives back the fields, to the precision of the wire format.
   */
  encode(fields: Measured, batteryPercent: number | undefined): readonly Frame[];
}

/** One uplink's application payload. */
export interface Frame {
  readonly fPort: number;
  readonly bytes: Uint8Array;
}

/** A decoded uplink as a reading of the type, or why it cannot be one. */
export type Completed =
  | { readonly ok: true; readonly fields: Measured }
  | {
      readonly ok: false;
      /** `missing_attribute` when the catalog lacks what the mapping needs; `decode_failed` otherwise. */
      readonly reason: 'missing_attribute' | 'decode_failed';
      /** The field or attribute, e.g. `attributes.containerDepthMm`. */
      readonly path: string;
      readonly message: string;
    };

/** What a device type takes from LoRaWAN network servers. */
export interface LorawanSupport {
  readonly models: readonly LorawanModel[];
  /** Fields a codec may measure that are not the type's own but that `complete` reads (e.g. `lampFault`); default none. */
  readonly extraFields?: readonly string[];
  /**
   * Turns what a codec measured into the type's reading for this catalog device: derives required
   * fields (a bin's `fillingLevel` from `distanceMm`), drops what the type does not store. Without
   * it the measured fields are the reading.
   */
  complete?(measured: Measured, device: DeviceRecord): Completed;
  /**
   * The simulator's inverse of `complete`: what the sensor would measure for one of the type's
   * readings (a bin's `distanceMm` from its `fillingLevel` and the catalog depth). Without it the
   * reading's fields are what is measured.
   */
  measure?(reading: Readonly<Record<string, number | string>>, device: DeviceRecord): Measured;
}

/** Bytes of a lowercase or uppercase hex string (tests and vectors), e.g. `0175 5c03` (spaces allowed). */
export function hexBytes(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`not hex: ${hex}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

/**
 * Reads integers from an uplink with bounds checks: a read past the end throws {@link Truncated},
 * which {@link decodeWith} turns into a reason, so a codec reads its layout straight.
 */
export class Bytes {
  private offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  get position(): number {
    return this.offset;
  }

  get left(): number {
    return this.bytes.length - this.offset;
  }

  private need(n: number, what: string): number {
    if (this.offset + n > this.bytes.length) throw new Truncated(`${this.bytes.length} bytes: ${what} at byte ${this.offset} needs ${n} more`);
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(what = 'a byte'): number {
    return this.bytes[this.need(1, what)]!;
  }
  i8(what = 'a byte'): number {
    const v = this.u8(what);
    return v > 0x7f ? v - 0x100 : v;
  }
  u16le(what = 'a 16-bit value'): number {
    const at = this.need(2, what);
    return this.bytes[at]! | (this.bytes[at + 1]! << 8);
  }
  i16le(what = 'a 16-bit value'): number {
    const v = this.u16le(what);
    return v > 0x7fff ? v - 0x10000 : v;
  }
  u16be(what = 'a 16-bit value'): number {
    const at = this.need(2, what);
    return (this.bytes[at]! << 8) | this.bytes[at + 1]!;
  }
  i16be(what = 'a 16-bit value'): number {
    const v = this.u16be(what);
    return v > 0x7fff ? v - 0x10000 : v;
  }
  u32le(what = 'a 32-bit value'): number {
    const at = this.need(4, what);
    return (this.bytes[at]! | (this.bytes[at + 1]! << 8) | (this.bytes[at + 2]! << 16)) + this.bytes[at + 3]! * 0x1000000;
  }
  u32be(what = 'a 32-bit value'): number {
    const at = this.need(4, what);
    return this.bytes[at]! * 0x1000000 + ((this.bytes[at + 1]! << 16) | (this.bytes[at + 2]! << 8) | this.bytes[at + 3]!);
  }
  ignore(n: number, what = 'bytes'): void {
    this.need(n, what);
  }
}

/**
 * For encoders: `v × scale` rounded and clamped into `lo..hi` (what a wire field can carry); a value
 * that is not a finite number gives undefined (the field is left out).
 */
export function toWire(v: number | string | undefined, scale: number, lo: number, hi: number): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? Math.min(hi, Math.max(lo, Math.round(v * scale))) : undefined;
}

/** A read past the end of an uplink. */
export class Truncated extends Error {}

/** A packet the codec understands but refuses (unknown channel, unknown fPort, a sensor error code). */
export class Undecodable extends Error {}

/**
 * Runs `decode` so that it is total: {@link Truncated} and {@link Undecodable} become reasons (with the
 * fPort), and so does any other exception (a codec bug must not take down ingest).
 */
export function decodeWith(bytes: Uint8Array, fPort: number, decode: (b: Bytes, fPort: number) => Omit<Extract<Decoded, { ok: true }>, 'ok'>): Decoded {
  try {
    if (bytes.length === 0) return { ok: false, reason: `fPort ${fPort}: empty payload` };
    const out = decode(new Bytes(bytes), fPort);
    return { ok: true, ...out };
  } catch (err) {
    if (err instanceof Truncated || err instanceof Undecodable) return { ok: false, reason: `fPort ${fPort}: ${err.message}` };
    return { ok: false, reason: `fPort ${fPort}: codec error: ${(err as Error).message}` };
  }
}
