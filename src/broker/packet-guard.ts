/**
 * A guard between a client socket and aedes that reads only MQTT fixed headers.
 *
 * aedes parses with mqtt-packet, which buffers a whole packet before it looks at it: a client that
 * declares 256 MB of remaining length (even before CONNECT) gets 256 MB of buffer as fast as it can
 * send. The guard sees the declared length in the first 2..5 bytes of every packet and cuts the
 * connection there, before a byte of the body is buffered. It also holds the first packet to being a
 * small CONNECT, holds back whatever follows the CONNECT until the broker has answered it (aedes
 * queues at most 42 packets that arrive before its CONNACK and drops the connection beyond that,
 * though MQTT lets a client send on at once), and throttles every packet after the CONNECT to a
 * token bucket, and the readings they carry to a second one, by pausing the socket: TCP flow
 * control then slows the client down, and nothing is dropped.
 *
 * Every byte the peer sent is processed, even when it hangs up right after sending (a device that
 * uploads its backlog and disconnects): the socket's end or close ends this stream only once the
 * broker has read what is buffered here, which the same back-pressure bounds (one socket chunk held,
 * the readable high-water mark).
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

/** Why the scanner stopped before a packet: its rate buckets, or the broker has not answered the CONNECT. */
export type Hold = 'messages' | 'readings' | 'connack';

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
  /** Set when {@link scan} stopped before a packet: why. */
  hold: Hold | undefined;
  private readonly limits: PacketLimits;
  private bucket: TokenBucket | undefined;
  private readings: TokenBucket | undefined;
  private state = HEADER;
  private first = true;
  /** The CONNECT has been seen and the broker has not accepted it yet: nothing passes. */
  private gated = false;
  /** The broker accepted the CONNECT (open() was called). */
  private accepted = false;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  /**
   * `bucket`: the connection's message-rate bucket; `readings`: its reading-rate bucket, charged
   * from outside with {@link chargeReadings}; undefined = no such limit.
   */
  constructor(limits: PacketLimits, bucket?: TokenBucket, readings?: TokenBucket) {
    this.limits = limits;
    this.bucket = bucket;
    this.readings = readings;
  }

  /** The broker accepted the CONNECT: the packets after it may pass. */
  open(): void {
    this.accepted = true;
    this.gated = false;
  }

  /** The readings a PUBLISH carried, known once it was decoded: later packets wait while they are owed. */
  chargeReadings(n: number): void {
    if (n > 0) this.readings?.charge(n);
  }

  /** No more message or reading rate on this connection (a network server carries a whole fleet's uplinks). */
  unlimit(): void {
    this.bucket = undefined;
    this.readings = undefined;
  }

  /**
   * Scans `chunk` from `start`. Returns `chunk.length` when all of it may go on; an index `i` when
   * the packet starting at `i` must wait (`hold` says for what; call again with the rest later: the
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
        if (this.first) {
          if (chunk[i]! >> 4 !== CONNECT) return this.fail('first_packet_not_connect');
        } else {
          // Every packet type counts: acknowledgements (PUBREL, PUBACK…) cost the broker work too.
          if (this.gated) return this.stop('connack', i);
          if (this.readings !== undefined && !this.readings.ready()) return this.stop('readings', i);
          if (this.bucket !== undefined && !this.bucket.take()) return this.stop('messages', i);
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
        if (this.first) this.gated = !this.accepted;
        this.first = false;
        this.remaining = this.length;
        this.state = this.remaining === 0 ? HEADER : BODY;
      }
    }
    return n;
  }

  /** Milliseconds until the rate limits let the next packet through. */
  waitMs(): number {
    return Math.max(this.bucket?.waitMs() ?? 0, this.readings?.waitMs() ?? 0);
  }

  private stop(hold: Hold, at: number): number {
    this.hold = hold;
    return at;
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
  throttled(meta: ConnectionMeta, limit: 'messages' | 'readings'): void;
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
  /** The end of the readable side was pushed, or is due after the held bytes. */
  private ending = false;
  /** The socket is closed: what is buffered here is still read; writes go nowhere. */
  private socketGone = false;
  /** A write waiting for the socket's 'drain'; called at once if the socket goes away instead. */
  private drainWaiter: (() => void) | undefined;
  /** corkUntilNextTurn() corked the socket and its uncork is scheduled. */
  private corked = false;

  constructor(socket: Socket, scanner: FixedHeaderScanner, meta: ConnectionMeta, events: GuardEvents) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    this.scanner = scanner;
    this.meta = meta;
    this.events = events;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.endReadable());
    socket.on('error', (err) => this.onSocketGone(err));
    socket.on('close', () => this.onSocketGone(null));
  }

  /** The broker accepted the CONNECT: the packets the client sent after it go on. */
  open(): void {
    this.scanner.open();
    if (this.held !== undefined && this.scanner.hold === 'connack' && this.timer === undefined) this.release();
  }

  /** The readings of a PUBLISH just decoded: later packets wait while the reading rate is exceeded. */
  chargeReadings(n: number): void {
    this.scanner.chargeReadings(n);
  }

  /**
   * Lifts the per-connection message and reading rates: for an authenticated network server, whose
   * one connection carries the uplinks of every device behind it (CITYPIPE_MQTT_CLIENT_RATE is sized
   * for one device). Its size and QoS limits stay.
   */
  unlimit(): void {
    this.scanner.unlimit();
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
    // The peer is gone: an answer can no longer reach it, but what it sent is still being read.
    if (this.socket.destroyed) return cb();
    if (this.socket.write(chunk)) cb();
    else this.waitForDrain(cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    if (this.socket.destroyed) return cb();
    // mqtt-packet writes a packet as several small buffers: one TCP segment for all of them.
    this.socket.cork();
    let ok = true;
    for (const { chunk } of chunks) ok = this.socket.write(chunk);
    this.socket.uncork();
    if (ok) cb();
    else this.waitForDrain(cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.held = undefined;
    this.flushDrainWaiter();
    this.socket.destroy();
    cb(err);
  }

  private waitForDrain(cb: () => void): void {
    this.drainWaiter = cb;
    this.socket.once('drain', () => this.flushDrainWaiter());
  }

  private flushDrainWaiter(): void {
    const cb = this.drainWaiter;
    this.drainWaiter = undefined;
    cb?.();
  }

  /** No more bytes will come from the peer: end the readable side after what is held. */
  private endReadable(): void {
    if (this.ending) return;
    this.ending = true;
    if (this.held === undefined) this.push(null);
    else this.endAfterHeld = true;
  }

  /**
   * The socket closed (or failed). What it delivered before is the device's last packets, often a
   * backlog followed by DISCONNECT: it goes on to the broker, which closes the client once it has
   * read the end. Only a connection with nothing left to read is torn down here.
   */
  private onSocketGone(err: Error | null): void {
    if (this.socketGone) return;
    this.socketGone = true;
    this.flushDrainWaiter();
    if (this.destroyed) return;
    if (this.held === undefined && this.readableLength === 0) {
      this.destroy(err ?? undefined);
      return;
    }
    this.endReadable();
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
    // Held back: pass what came before the packet, keep the rest until it may go.
    if (passed > 0) this.push(chunk.subarray(0, passed));
    this.held = chunk.subarray(passed);
    if (!this.socket.destroyed) this.socket.pause();
    const hold = this.scanner.hold;
    // Before the CONNACK nothing is throttled: open() lets the rest go.
    if (hold === 'connack' || hold === undefined) return;
    // A packet counts as throttled once, even if a timer wakes before its token is due.
    if (passed > 0 || !this.retrying) this.events.throttled(this.meta, hold);
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
      this.endAfterHeld = false;
      this.push(null);
      return;
    }
    // Still below the readable high-water mark and not held again: read on.
    if (this.held === undefined && !this.destroyed && !this.socket.destroyed && this.readableLength < this.readableHighWaterMark) this.socket.resume();
  }
}

/**
 * Lets the packets a client sent after its CONNECT go on once aedes has accepted it: after the
 * CONNACK, aedes handles them as they come instead of queueing them. Call once per broker instance.
 */
export function openOnConnack(aedes: { on(event: 'connackSent', listener: (packet: { returnCode?: number }, client: { conn?: unknown }) => void): unknown }): void {
  aedes.on('connackSent', (packet, client) => {
    if ((packet.returnCode ?? 0) === 0 && client.conn instanceof GuardedConnection) client.conn.open();
  });
}
