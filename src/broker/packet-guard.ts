/**
 * A guard between a client socket and aedes that reads only MQTT fixed headers.
 *
 * aedes parses with mqtt-packet, which buffers a whole packet before it looks at it: a client that
 * declares 256 MB of remaining length (even before CONNECT) gets 256 MB of buffer as fast as it can
 * send. The guard sees the declared length in the first 2..5 bytes of every packet and cuts the
 * connection there, before a byte of the body is buffered. It also holds the first packet to being a
 * small CONNECT, and throttles the packets a client initiates (PUBLISH, SUBSCRIBE, UNSUBSCRIBE,
 * PINGREQ) to a token bucket by pausing the socket: TCP flow control then slows the client down,
 * and nothing is dropped.
 *
 * Cost: one pass over the header bytes of each packet and an O(1) skip over its body. Measured with
 * packet-guard.bench.ts on the 2-core AMD EPYC build machine (Node 20, 200-byte payloads): the
 * scanner 65 ns per packet, most of it the rate bucket's clock read; aedes over loopback TCP
 * 2.7 → 2.8 µs per QoS 0 message and 4.2–4.6 → 4.5–4.7 µs per QoS 1 message (0.06–0.37 µs,
 * within run-to-run noise), against tens of µs per reading for validation and the spool.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { TokenBucket } from '../security/token-bucket.js';

/** Why the guard cut a connection. Stable: used as a metric label. */
export type GuardViolation = 'packet_too_large' | 'connect_too_large' | 'first_packet_not_connect' | 'malformed_length';

const CONNECT = 1;
/** Bit `type` is set for the packet types that count against a client's message rate. */
const RATE_COUNTED = (1 << 3) | (1 << 8) | (1 << 10) | (1 << 12); // PUBLISH, SUBSCRIBE, UNSUBSCRIBE, PINGREQ

const HEADER = 0;
const LENGTH = 1;
const BODY = 2;

/** The limits one connection is held to. */
export interface PacketLimits {
  /** Largest whole packet (fixed header + remaining length) after CONNECT. */
  readonly maxPacketBytes: number;
  /** Largest first packet (the CONNECT). */
  readonly maxConnectBytes: number;
}

/**
 * Incremental scanner of MQTT fixed headers: feed it the bytes of one connection in order, in any
 * chunking. It never copies or keeps a byte.
 */
export class FixedHeaderScanner {
  /** Set when {@link scan} returned -1. */
  violation: GuardViolation | undefined;
  /** The whole-packet size the offending packet declared, when the violation is about size. */
  declaredBytes = 0;
  private readonly limits: PacketLimits;
  private readonly bucket: TokenBucket | undefined;
  private state = HEADER;
  private first = true;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  /** `bucket`: the connection's message-rate bucket; undefined = no rate limit. */
  constructor(limits: PacketLimits, bucket?: TokenBucket) {
    this.limits = limits;
    this.bucket = bucket;
  }

  /**
   * Scans `chunk` from `start`. Returns `chunk.length` when all of it may go on; an index `i` when
   * the packet starting at `i` must wait for the rate limit (call again with the rest later: the
   * scanner is positioned at that packet); or -1 when the connection must be cut (`violation`).
   */
  scan(chunk: Uint8Array, start = 0): number {
    const n = chunk.length;
    let i = start;
    while (i < n) {
      if (this.state === BODY) {
        const skip = Math.min(this.remaining, n - i);
        i += skip;
        this.remaining -= skip;
        if (this.remaining === 0) this.state = HEADER;
      } else if (this.state === HEADER) {
        const type = chunk[i]! >> 4;
        if (this.first) {
          if (type !== CONNECT) return this.fail('first_packet_not_connect');
        } else if (this.bucket !== undefined && ((RATE_COUNTED >> type) & 1) === 1 && !this.bucket.take()) {
          return i;
        }
        i++;
        this.state = LENGTH;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else {
        const b = chunk[i++]!;
        this.length += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if ((b & 0x80) !== 0) {
          // The remaining length is at most 4 bytes [MQTT-2.2.3]; a fifth is malformed.
          if (this.lengthBytes === 4) return this.fail('malformed_length');
          continue;
        }
        const total = 1 + this.lengthBytes + this.length;
        if (total > (this.first ? this.limits.maxConnectBytes : this.limits.maxPacketBytes)) {
          this.declaredBytes = total;
          return this.fail(this.first ? 'connect_too_large' : 'packet_too_large');
        }
        this.first = false;
        this.remaining = this.length;
        this.state = this.remaining === 0 ? HEADER : BODY;
      }
    }
    return n;
  }

  /** Milliseconds until the rate limit lets the next packet through. */
  waitMs(): number {
    return this.bucket?.waitMs() ?? 0;
  }

  private fail(v: GuardViolation): number {
    this.violation = v;
    return -1;
  }
}

/** What the guard learnt about the peer, for authentication. */
export interface ConnectionMeta {
  readonly remoteAddress: string | undefined;
  /** Set on the TLS listener. */
  readonly tls?: {
    /** A client certificate was presented and verified against the configured CA. */
    readonly authorized: boolean;
    /** A client certificate was presented (verified or not). */
    readonly presented: boolean;
    /** Its subject CN, when presented. */
    readonly commonName: string | undefined;
    /** Why verification failed, when it did. */
    readonly error: string | undefined;
  };
}

/** Called when the guard cuts a connection or throttles it. Must not throw. */
export interface GuardEvents {
  violation(v: GuardViolation, meta: ConnectionMeta, declaredBytes: number): void;
  throttled(meta: ConnectionMeta): void;
}

/**
 * The stream aedes gets instead of the socket: bytes from the socket pass through the scanner;
 * bytes from aedes go straight to the socket.
 */
export class GuardedConnection extends Duplex {
  readonly meta: ConnectionMeta;
  private readonly socket: Socket;
  private readonly scanner: FixedHeaderScanner;
  private readonly events: GuardEvents;
  private held: Buffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** True while release() re-offers held bytes, so the same packet is not reported twice. */
  private retrying = false;
  /** The peer finished sending while bytes were held: end once they are passed on. */
  private endAfterHeld = false;
  /** corkUntilNextTurn() corked the socket and its uncork is scheduled. */
  private corked = false;

  constructor(socket: Socket, scanner: FixedHeaderScanner, meta: ConnectionMeta, events: GuardEvents) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    this.scanner = scanner;
    this.meta = meta;
    this.events = events;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      if (this.held === undefined) this.push(null);
      else this.endAfterHeld = true;
    });
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
  }

  /**
   * Holds this connection's writes until the event loop's next turn (`setImmediate`), so that the
   * acknowledgements released together (one spool group's PUBACKs) leave in one `writev` and one
   * segment instead of one each (docs/BENCHMARKS.md, "Where the time goes", fix 3).
   */
  corkUntilNextTurn(): void {
    if (this.corked || this.socket.destroyed) return;
    this.corked = true;
    this.socket.cork();
    setImmediate(() => {
      this.corked = false;
      this.socket.uncork();
    });
  }

  override _read(): void {
    if (this.held === undefined && !this.socket.destroyed) this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.socket.destroyed) return cb(new Error('connection closed'));
    if (this.socket.write(chunk)) cb();
    else this.socket.once('drain', () => cb());
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    if (this.socket.destroyed) return cb(new Error('connection closed'));
    // mqtt-packet writes a packet as several small buffers: one TCP segment for all of them.
    this.socket.cork();
    let ok = true;
    for (const { chunk } of chunks) ok = this.socket.write(chunk);
    this.socket.uncork();
    if (ok) cb();
    else this.socket.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.held = undefined;
    this.socket.destroy();
    cb(err);
  }

  private onData(chunk: Buffer): void {
    if (this.held !== undefined) {
      // Only reachable if the socket emitted data after pause(); keep the order either way.
      this.held = Buffer.concat([this.held, chunk]);
      return;
    }
    const passed = this.scanner.scan(chunk);
    if (passed === chunk.length) {
      if (!this.push(chunk)) this.socket.pause();
      return;
    }
    if (passed < 0) {
      this.events.violation(this.scanner.violation!, this.meta, this.scanner.declaredBytes);
      this.destroy();
      return;
    }
    // Over the rate: pass what came before the packet, keep the rest until a token is due.
    if (passed > 0) this.push(chunk.subarray(0, passed));
    this.held = chunk.subarray(passed);
    this.socket.pause();
    // A packet counts as throttled once, even if a timer wakes before its token is due.
    if (passed > 0 || !this.retrying) this.events.throttled(this.meta);
    // Timers run on whole milliseconds and may fire up to 1 ms early: round up and add one.
    this.timer = setTimeout(() => this.release(), Math.ceil(this.scanner.waitMs()) + 1);
  }

  private release(): void {
    const held = this.held;
    this.timer = undefined;
    this.held = undefined;
    if (held === undefined || this.destroyed) return;
    this.retrying = true;
    this.onData(held);
    this.retrying = false;
    if (this.held === undefined && this.endAfterHeld) {
      this.push(null);
      return;
    }
    // Still below the readable high-water mark and not throttled again: read on.
    if (this.held === undefined && !this.destroyed && this.readableLength < this.readableHighWaterMark) this.socket.resume();
  }
}
