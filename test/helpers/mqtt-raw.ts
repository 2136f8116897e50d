/**
 * MQTT 3.1.1 on a raw socket, for tests that need what a well-behaved client library will not do:
 * malformed or oversized packets, withheld acknowledgements, exact CONNACK codes. Encoders write the
 * bytes of the spec (OASIS MQTT 3.1.1 §3); the decoder reads what the broker sends back.
 */
import net from 'node:net';
import { waitFor } from './wait.js';

/** The remaining-length varint of MQTT [MQTT-2.2.3]. */
export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), varint(body.length), body]);
}

export interface ConnectOptions {
  clientId: string | Buffer;
  username?: string;
  password?: string;
  clean?: boolean;
  keepalive?: number;
  protocolLevel?: number;
  will?: { topic: string; payload: string; qos?: 0 | 1; retain?: boolean };
}

export function connectPacket(o: ConnectOptions): Buffer {
  const level = o.protocolLevel ?? 4;
  let flags = 0;
  if (o.clean ?? true) flags |= 0x02;
  if (o.will) flags |= 0x04 | ((o.will.qos ?? 0) << 3) | (o.will.retain ? 0x20 : 0);
  if (o.password !== undefined) flags |= 0x40;
  if (o.username !== undefined) flags |= 0x80;
  const parts = [str('MQTT'), Buffer.from([level, flags]), u16(o.keepalive ?? 60)];
  // MQTT 5 puts a property length before the payload; 0 = no properties.
  if (level === 5) parts.push(Buffer.from([0]));
  parts.push(str(o.clientId));
  if (o.will) {
    if (level === 5) parts.push(Buffer.from([0]));
    parts.push(str(o.will.topic), str(o.will.payload));
  }
  if (o.username !== undefined) parts.push(str(o.username));
  if (o.password !== undefined) parts.push(str(o.password));
  return packet(0x10, Buffer.concat(parts));
}

export function publishPacket(topic: string | Buffer, payload: string | Buffer, o: { qos?: 0 | 1 | 2; id?: number; retain?: boolean; dup?: boolean } = {}): Buffer {
  const qos = o.qos ?? 0;
  const first = 0x30 | (o.dup ? 0x08 : 0) | (qos << 1) | (o.retain ? 0x01 : 0);
  const parts = [str(topic)];
  if (qos > 0) parts.push(u16(o.id ?? 1));
  parts.push(typeof payload === 'string' ? Buffer.from(payload) : payload);
  return packet(first, Buffer.concat(parts));
}

export function subscribePacket(id: number, filters: [string, 0 | 1 | 2][]): Buffer {
  return packet(0x82, Buffer.concat([u16(id), ...filters.flatMap(([t, q]) => [str(t), Buffer.from([q])])]));
}

export function unsubscribePacket(id: number, filters: string[]): Buffer {
  return packet(0xa2, Buffer.concat([u16(id), ...filters.map((t) => str(t))]));
}

/** PUBACK (4), PUBREC (5), PUBREL (6, flags 0010), PUBCOMP (7). */
export function ackPacket(type: 4 | 5 | 6 | 7, id: number): Buffer {
  return packet((type << 4) | (type === 6 ? 0x02 : 0), u16(id));
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);
export const DISCONNECT = Buffer.from([0xe0, 0x00]);

/** A packet from the broker. */
export interface Received {
  type: number;
  dup: boolean;
  qos: number;
  retain: boolean;
  body: Buffer;
  /** CONNACK */
  returnCode?: number;
  sessionPresent?: boolean;
  /** PUBLISH */
  topic?: string;
  payload?: Buffer;
  /** PUBLISH (QoS > 0), PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK */
  messageId?: number;
  /** SUBACK */
  granted?: number[];
}

export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const PUBREC = 5;
export const PUBREL = 6;
export const PUBCOMP = 7;
export const SUBACK = 9;
export const UNSUBACK = 11;
export const PINGRESP = 13;

function decode(first: number, body: Buffer): Received {
  const type = first >> 4;
  const r: Received = { type, dup: (first & 0x08) !== 0, qos: (first >> 1) & 3, retain: (first & 1) !== 0, body };
  if (type === CONNACK) {
    r.sessionPresent = (body[0]! & 1) === 1;
    r.returnCode = body[1]!;
  } else if (type === PUBLISH) {
    const tl = body.readUInt16BE(0);
    r.topic = body.subarray(2, 2 + tl).toString('utf8');
    let p = 2 + tl;
    if (r.qos > 0) {
      r.messageId = body.readUInt16BE(p);
      p += 2;
    }
    r.payload = body.subarray(p);
  } else if (type === SUBACK) {
    r.messageId = body.readUInt16BE(0);
    r.granted = [...body.subarray(2)];
  } else if (body.length >= 2) {
    r.messageId = body.readUInt16BE(0);
  }
  return r;
}

/** A raw TCP connection to the broker with a decoder for what it sends. */
export class RawClient {
  readonly socket: net.Socket;
  /** Every packet received, in order. */
  readonly received: Received[] = [];
  closedAt: number | undefined;
  private buf: Buffer = Buffer.alloc(0);

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => this.onData(d));
    // Writes after the broker closed fail with EPIPE/ECONNRESET: expected in these tests.
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closedAt ??= Date.now()));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Connects and sends CONNECT; resolves with the CONNACK. */
  static async handshake(port: number, o: ConnectOptions): Promise<{ client: RawClient; connack: Received }> {
    const client = await RawClient.connect(port);
    client.send(connectPacket(o));
    const connack = await client.next(CONNACK);
    return { client, connack };
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  send(data: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(data);
  }

  /** The first packet of `type` not yet taken by an earlier `next` (it is taken); rejects after `timeoutMs`. */
  async next(type: number, timeoutMs = 3000): Promise<Received> {
    return waitFor(
      `packet type ${type}`,
      () => {
        for (let i = 0; i < this.received.length; i++) {
          if (this.received[i]!.type === type) {
            const r = this.received[i]!;
            this.received.splice(i, 1);
            return r;
          }
        }
        if (this.closed) throw new Error('connection closed');
        return undefined;
      },
      timeoutMs,
      5,
    );
  }

  /** Resolves true once the broker has closed the connection, false after `timeoutMs`. */
  async waitClosed(timeoutMs = 3000): Promise<boolean> {
    try {
      await waitFor('connection closed', () => this.closed, timeoutMs, 5);
      return true;
    } catch {
      return false;
    }
  }

  end(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.buf.length < 2) return;
      let len = 0;
      let mul = 1;
      let i = 1;
      for (;;) {
        if (i >= this.buf.length) return;
        const b = this.buf[i++]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) break;
      }
      if (this.buf.length < i + len) return;
      this.received.push(decode(this.buf[0]!, this.buf.subarray(i, i + len)));
      this.buf = this.buf.subarray(i + len);
    }
  }
}
