/**
 * The few MQTT 3.1.1 packets a publishing device exchanges with a broker, encoded and decoded by
 * hand: CONNECT, PUBLISH, PINGREQ and DISCONNECT out; CONNACK, PUBACK and PINGRESP in. At the end,
 * the MQTT 5 packets of a consumer on a shared subscription (the cluster phase's baseline).
 *
 * Why not mqtt.js: its client keeps a store, a queue and a callback per message, which costs the
 * load generator several times the CPU the broker spends on the same message. On this 2-core machine
 * the generator shares the cores with the broker under test, so a heavy generator would measure
 * itself. Encoding a PUBLISH here is one allocation and three copies.
 */

/** Control packet types (high nibble of the first byte), MQTT 3.1.1 §2.2.1. */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  SUBSCRIBE: 8,
  SUBACK: 9,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
} as const;

export interface WillOptions {
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
}

export interface ConnectOptions {
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  keepaliveS: number;
  clean: boolean;
  will?: WillOptions | undefined;
}

export const PINGREQ: Buffer = Buffer.from([PacketType.PINGREQ << 4, 0]);
export const DISCONNECT: Buffer = Buffer.from([PacketType.DISCONNECT << 4, 0]);

function remainingLengthSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
}

function writeRemainingLength(buf: Buffer, offset: number, n: number): number {
  let rest = n;
  do {
    let byte = rest % 0x80;
    rest = Math.floor(rest / 0x80);
    if (rest > 0) byte |= 0x80;
    buf[offset++] = byte;
  } while (rest > 0);
  return offset;
}

/** A UTF-8 string with its 2-byte length prefix (MQTT 3.1.1 §1.5.3). */
export function mqttString(s: string): Buffer {
  const body = Buffer.from(s, 'utf8');
  if (body.length > 0xffff) throw new Error(`MQTT string longer than 65535 bytes: ${s.slice(0, 40)}…`);
  const out = Buffer.allocUnsafe(2 + body.length);
  out.writeUInt16BE(body.length, 0);
  body.copy(out, 2);
  return out;
}

export function encodeConnect(o: ConnectOptions): Buffer {
  const fields: Buffer[] = [mqttString(o.clientId)];
  let flags = o.clean ? 0x02 : 0;
  if (o.will) {
    flags |= 0x04 | (o.will.qos << 3) | (o.will.retain ? 0x20 : 0);
    fields.push(mqttString(o.will.topic), mqttString(o.will.payload));
  }
  if (o.username !== undefined) {
    flags |= 0x80;
    fields.push(mqttString(o.username));
    if (o.password !== undefined) {
      flags |= 0x40;
      fields.push(mqttString(o.password));
    }
  }
  // Protocol name "MQTT", level 4 (3.1.1), connect flags, keep alive.
  const variable = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, (o.keepaliveS >> 8) & 0xff, o.keepaliveS & 0xff]);
  const body = Buffer.concat([variable, ...fields]);
  const out = Buffer.allocUnsafe(1 + remainingLengthSize(body.length) + body.length);
  out[0] = PacketType.CONNECT << 4;
  const offset = writeRemainingLength(out, 1, body.length);
  body.copy(out, offset);
  return out;
}

/**
 * One PUBLISH. `topic` is the topic already encoded by {@link mqttString}, so that a publisher pays
 * for its topic once, not per message. `payload` is ASCII/UTF-8 text (JSON).
 */
export function encodePublish(topic: Buffer, payload: string, qos: 0 | 1, packetId: number, retain = false): Buffer {
  const payloadBytes = Buffer.byteLength(payload, 'utf8');
  const remaining = topic.length + (qos > 0 ? 2 : 0) + payloadBytes;
  const out = Buffer.allocUnsafe(1 + remainingLengthSize(remaining) + remaining);
  out[0] = (PacketType.PUBLISH << 4) | (qos << 1) | (retain ? 1 : 0);
  let offset = writeRemainingLength(out, 1, remaining);
  offset += topic.copy(out, offset);
  if (qos > 0) {
    out.writeUInt16BE(packetId, offset);
    offset += 2;
  }
  out.write(payload, offset, 'utf8');
  return out;
}

/**
 * Splits the byte stream a broker sends into packets. Brokers answer a publisher with tiny packets
 * (a PUBACK is 4 bytes), so the common case, a chunk of whole packets, is parsed without copying.
 */
export class PacketReader {
  private rest: Buffer | undefined;

  /**
   * Feeds one chunk; calls `onPacket(type, body, flags)` for every complete packet in order (`flags`:
   * the low nibble of the first byte, which a PUBLISH's QoS is read from).
   */
  push(chunk: Buffer, onPacket: (type: number, body: Buffer, flags: number) => void): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    let offset = 0;
    while (buf.length - offset >= 2) {
      let length = 0;
      let multiplier = 1;
      let i = offset + 1;
      let complete = false;
      for (; i < buf.length && i < offset + 5; i++) {
        const byte = buf[i]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 0x80;
        if ((byte & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete) {
        if (i >= offset + 5) throw new Error('malformed MQTT remaining length');
        break;
      }
      if (buf.length - i < length) break;
      onPacket(buf[offset]! >> 4, buf.subarray(i, i + length), buf[offset]! & 0x0f);
      offset = i + length;
    }
    if (offset < buf.length) this.rest = Buffer.from(buf.subarray(offset));
  }
}

// ---------------------------------------------------------------------------------------------
// MQTT 5, the consuming side: what a shared-subscription consumer that acknowledges at once needs
// (the cluster phase's broker-only baseline, shared-consumer.ts). Hand-encoded for the same reason
// as the publisher's packets: the consumer must not be what limits the broker.

/** A packet of `type` (with `flags`) around `body`. */
function packet(type: number, flags: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(1 + remainingLengthSize(body.length) + body.length);
  out[0] = (type << 4) | flags;
  const offset = writeRemainingLength(out, 1, body.length);
  body.copy(out, offset);
  return out;
}

/** CONNECT, protocol level 5, Clean Start, no properties, no will. */
export function encodeConnect5(o: { clientId: string; keepaliveS: number; username?: string | undefined; password?: string | undefined }): Buffer {
  let flags = 0x02;
  const fields: Buffer[] = [mqttString(o.clientId)];
  if (o.username !== undefined) {
    flags |= 0x80;
    fields.push(mqttString(o.username));
    if (o.password !== undefined) {
      flags |= 0x40;
      fields.push(mqttString(o.password));
    }
  }
  // "MQTT", level 5, connect flags, keep alive, property length 0.
  const variable = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 5, flags, (o.keepaliveS >> 8) & 0xff, o.keepaliveS & 0xff, 0]);
  return packet(PacketType.CONNECT, 0, Buffer.concat([variable, ...fields]));
}

/** SUBSCRIBE (MQTT 5) of one filter at QoS 1, no properties. */
export function encodeSubscribe5(packetId: number, filter: string): Buffer {
  const head = Buffer.from([(packetId >> 8) & 0xff, packetId & 0xff, 0]);
  // Subscription options: maximum QoS 1 (No Local, Retain As Published and Retain Handling 0).
  return packet(PacketType.SUBSCRIBE, 0x02, Buffer.concat([head, mqttString(filter), Buffer.from([0x01])]));
}

/** PUBACK (MQTT 5) with only the packet id: a remaining length of 2 means reason code 0, success. */
export function encodePuback5(packetId: number): Buffer {
  return Buffer.from([PacketType.PUBACK << 4, 2, (packetId >> 8) & 0xff, packetId & 0xff]);
}

/** A variable byte integer at `offset` (MQTT 5 §1.5.5): its value and the offset after it. */
function readVarint(buf: Buffer, offset: number): { value: number; next: number } {
  let value = 0;
  let multiplier = 1;
  for (let i = offset; i < offset + 4 && i < buf.length; i++) {
    value += (buf[i]! & 0x7f) * multiplier;
    if ((buf[i]! & 0x80) === 0) return { value, next: i + 1 };
    multiplier *= 0x80;
  }
  throw new Error('malformed MQTT variable byte integer');
}

/** The fields of a PUBLISH body (MQTT 5): topic, packet id (0 at QoS 0), payload; properties skipped. */
export function decodePublish5(body: Buffer, flags: number): { topic: string; packetId: number; qos: number; payload: Buffer } {
  const qos = (flags >> 1) & 0x03;
  const topicLength = body.readUInt16BE(0);
  let offset = 2 + topicLength;
  const topic = body.toString('utf8', 2, offset);
  let packetId = 0;
  if (qos > 0) {
    packetId = body.readUInt16BE(offset);
    offset += 2;
  }
  const props = readVarint(body, offset);
  return { topic, packetId, qos, payload: body.subarray(props.next + props.value) };
}

/** The reason code of a CONNACK body (MQTT 5: after the acknowledge flags; 0 = success). */
export function connackReason5(body: Buffer): number {
  return body[1] ?? 255;
}

/** The reason codes of a SUBACK body (MQTT 5), after its packet id and properties. */
export function subackReasons5(body: Buffer): number[] {
  const props = readVarint(body, 2);
  return [...body.subarray(props.next + props.value)];
}
