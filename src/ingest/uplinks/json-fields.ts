/**
 * Reads typed fields out of a network server's JSON, which citypipe does not control: every read
 * checks the JSON type and names the field's path when it is wrong (`rxInfo[1].rssi: must be a
 * finite number, got "x"`). Both servers write Protocol Buffers' JSON mapping, whose rules this follows:
 * `null` reads as absent (the field's default), integers may come as numbers or decimal strings,
 * bytes are base64 (standard or URL-safe, padded or not).
 */
import { parseIsoTimestamp } from '../iso-timestamp.js';

/** A parsed JSON object. */
export type JsonObject = { readonly [key: string]: unknown };

/** A field that is missing or malformed; the parsers turn it into an `invalid_uplink` result. */
export class InvalidField extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = 'InvalidField';
  }
}

/** The path used in messages about the message as a whole. */
export const PAYLOAD_PATH = 'payload';

/** The body as a JSON object, or why it is not one. */
export function parseJsonObject(
  body: Buffer,
): { readonly ok: true; readonly value: JsonObject } | { readonly ok: false; readonly reason: 'invalid_json' | 'invalid_uplink'; readonly message: string } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'invalid_json', message: `${PAYLOAD_PATH}: not JSON (${(err as Error).message})` };
  }
  if (!isObject(value)) return { ok: false, reason: 'invalid_uplink', message: `${PAYLOAD_PATH}: must be a JSON object, got ${describe(value)}` };
  return { ok: true, value };
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const MAX_SHOWN = 40;

/** A value as a message shows it: strings quoted and cut short, containers by kind. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > MAX_SHOWN ? `${v.slice(0, MAX_SHOWN)}…` : v);
    case 'object':
      return 'an object';
    default:
      // Numbers as JavaScript prints them: 1e400 in the JSON shows as Infinity.
      return String(v);
  }
}

const HEX16 = /^[0-9a-fA-F]{16}$/;
const BASE64_CHARS = /^[A-Za-z0-9+/_-]*$/;
const DECIMAL_INTEGER = /^\d{1,16}$/;
const DECIMAL_NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The fields of one JSON object, each read with its path. */
export class JsonFields {
  private constructor(
    private readonly obj: JsonObject,
    /** This object's own path: '' at the top, `deviceInfo`, `rxInfo[0]`. */
    readonly path: string,
  ) {}

  static of(obj: JsonObject): JsonFields {
    return new JsonFields(obj, '');
  }

  /** The object itself (for a decoded payload handed on as it came). */
  get value(): JsonObject {
    return this.obj;
  }

  pathOf(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  /** The field's value; `undefined` when absent or `null`. Only own keys: `constructor` is not a field. */
  get(key: string): unknown {
    if (!Object.hasOwn(this.obj, key)) return undefined;
    const v = this.obj[key];
    return v === null ? undefined : v;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  object(key: string): JsonFields | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (!isObject(v)) throw new InvalidField(this.pathOf(key), `must be an object, got ${describe(v)}`);
    return new JsonFields(v, this.pathOf(key));
  }

  /** The object at `key` when there is one, else `undefined`, never a throw (for messages citypipe ignores). */
  objectIfValid(key: string): JsonFields | undefined {
    const v = this.get(key);
    return isObject(v) ? new JsonFields(v, this.pathOf(key)) : undefined;
  }

  requireObject(key: string): JsonFields {
    return this.object(key) ?? this.missing(key);
  }

  /** The elements of an array of objects (`rxInfo[2]` is the path of the third). */
  objects(key: string): JsonFields[] {
    const v = this.get(key);
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new InvalidField(this.pathOf(key), `must be an array, got ${describe(v)}`);
    return v.map((element: unknown, i) => {
      const path = `${this.pathOf(key)}[${i}]`;
      if (!isObject(element)) throw new InvalidField(path, `must be an object, got ${describe(element)}`);
      return new JsonFields(element, path);
    });
  }

  string(key: string): string | undefined {
    const v = this.get(key);
    if (v === undefined || typeof v === 'string') return v;
    throw new InvalidField(this.pathOf(key), `must be a string, got ${describe(v)}`);
  }

  boolean(key: string): boolean | undefined {
    const v = this.get(key);
    if (v === undefined || typeof v === 'boolean') return v;
    throw new InvalidField(this.pathOf(key), `must be true or false, got ${describe(v)}`);
  }

  /** An unsigned integer up to `max` (a number, or a decimal string as the JSON mapping allows). */
  unsigned(key: string, max: number): number | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && DECIMAL_INTEGER.test(v) ? Number(v) : NaN;
    if (!(Number.isInteger(n) && n >= 0 && n <= max)) throw new InvalidField(this.pathOf(key), `must be an integer 0..${max}, got ${describe(v)}`);
    return n;
  }

  /** A finite number (or a decimal string). */
  number(key: string): number | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && DECIMAL_NUMBER.test(v) ? Number(v) : NaN;
    if (!Number.isFinite(n)) throw new InvalidField(this.pathOf(key), `must be a finite number, got ${describe(v)}`);
    return n;
  }

  /** Base64 bytes, strictly: Node's own decoder would skip characters that are not base64. */
  bytes(key: string): Uint8Array | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const bytes = decodeBase64(v);
    if (bytes === undefined) throw new InvalidField(this.pathOf(key), `must be base64, got ${describe(v)}`);
    return bytes;
  }

  /** An RFC 3339 time with its offset, as epoch ms (digits beyond the millisecond dropped). */
  time(key: string): number | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const ms = parseIsoTimestamp(v);
    if (Number.isNaN(ms)) throw new InvalidField(this.pathOf(key), `must be an RFC 3339 time, got ${describe(v)}`);
    return ms;
  }

  requireTime(key: string): number {
    return this.time(key) ?? this.missing(key);
  }

  /** A DevEUI (16 hex digits, either case), lower-cased. */
  devEui(key: string): string | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    if (!HEX16.test(v)) throw new InvalidField(this.pathOf(key), `must be 16 hex digits, got ${describe(v)}`);
    return v.toLowerCase();
  }

  requireDevEui(key: string): string {
    return this.devEui(key) ?? this.missing(key);
  }

  /** The DevEUI if the field holds a valid one, else `undefined`, never a throw (for messages citypipe ignores). */
  devEuiIfValid(key: string): string | undefined {
    const v = this.get(key);
    return typeof v === 'string' && HEX16.test(v) ? v.toLowerCase() : undefined;
  }

  missing(key: string): never {
    throw new InvalidField(this.pathOf(key), 'missing');
  }
}

/** `1 byte`, `3 bytes`. */
export function byteCount(bytes: Uint8Array): string {
  return bytes.length === 1 ? '1 byte' : `${bytes.length} bytes`;
}

/** Standard or URL-safe base64, padded or not; `undefined` for anything else. */
export function decodeBase64(s: string): Uint8Array | undefined {
  let end = s.length;
  while (end > 0 && end > s.length - 2 && s.charCodeAt(end - 1) === 61 /* = */) end--;
  const body = end === s.length ? s : s.slice(0, end);
  if (!BASE64_CHARS.test(body) || body.length % 4 === 1) return undefined;
  if (end !== s.length && s.length % 4 !== 0) return undefined;
  // A copy, not a view into Node's shared buffer pool.
  return new Uint8Array(Buffer.from(body, 'base64'));
}
