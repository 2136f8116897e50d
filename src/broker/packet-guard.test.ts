import { PassThrough } from 'node:stream';
import net, { type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket } from '../security/token-bucket.js';
import { FixedHeaderScanner, GuardedConnection, type GuardViolation } from './packet-guard.js';

const limits = { maxPacketBytes: 1024, maxConnectBytes: 256 };

/** A minimal MQTT packet: type/flags byte, remaining-length varint, body of `len` bytes. */
function pkt(first: number, len: number): Buffer {
  const lenBytes: number[] = [];
  let n = len;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    lenBytes.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([first, ...lenBytes]), Buffer.alloc(len, 0x61)]);
}

const CONNECT = (len = 20) => pkt(0x10, len);
const PUBLISH = (len = 50) => pkt(0x30, len);
const PUBACK = () => pkt(0x40, 2);

/**
 * Feeds `bytes` in chunks of `size`, the broker accepting the CONNECT as soon as the scanner waits
 * for it; returns the violation, or undefined.
 */
function scanAll(scanner: FixedHeaderScanner, bytes: Buffer, size: number): GuardViolation | undefined {
  for (let i = 0; i < bytes.length; i += size) {
    const chunk = bytes.subarray(i, i + size);
    let r = scanner.scan(chunk);
    if (r >= 0 && r < chunk.length && scanner.hold === 'connack') {
      scanner.open();
      r = scanner.scan(chunk, r);
    }
    if (r < 0) return scanner.violation;
    expect(r).toBe(chunk.length);
  }
  return undefined;
}

describe('FixedHeaderScanner', () => {
  const stream = Buffer.concat([CONNECT(), PUBLISH(), PUBACK(), PUBLISH(1000), pkt(0xc0, 0), PUBLISH(200)]);

  it.each([1, 2, 3, 7, 64, 4096])('passes a valid stream chunked every %i bytes', (size) => {
    expect(scanAll(new FixedHeaderScanner(limits), stream, size)).toBeUndefined();
  });

  it.each([1, 3, 4096])('cuts a packet over the limit at its header, chunked every %i bytes', (size) => {
    const scanner = new FixedHeaderScanner(limits);
    // Only the header of the big packet is fed: the guard must not need its body.
    const bytes = Buffer.concat([CONNECT(), PUBLISH(), pkt(0x30, 2000).subarray(0, 3)]);
    expect(scanAll(scanner, bytes, size)).toBe('packet_too_large');
    expect(scanner.declaredBytes).toBe(1 + 2 + 2000);
  });

  it('allows a packet of exactly the limit', () => {
    expect(scanAll(new FixedHeaderScanner(limits), Buffer.concat([CONNECT(), PUBLISH(1024 - 3)]), 100)).toBeUndefined();
    expect(scanAll(new FixedHeaderScanner(limits), Buffer.concat([CONNECT(), PUBLISH(1024 - 2)]), 100)).toBe('packet_too_large');
  });

  it('holds the first packet to the CONNECT limit and to being a CONNECT', () => {
    expect(scanAll(new FixedHeaderScanner(limits), Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]), 1)).toBe('connect_too_large');
    expect(scanAll(new FixedHeaderScanner(limits), CONNECT(300), 64)).toBe('connect_too_large');
    for (const first of [0x30, 0x82, 0xc0, 0x00, 0xf0, 0x20]) {
      expect(scanAll(new FixedHeaderScanner(limits), Buffer.from([first, 0]), 1), `0x${first.toString(16)}`).toBe('first_packet_not_connect');
    }
  });

  it('cuts a remaining length with a fifth byte', () => {
    expect(scanAll(new FixedHeaderScanner({ maxPacketBytes: 1e9, maxConnectBytes: 1e9 }), Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]), 1)).toBe('malformed_length');
  });

  it('holds everything after the CONNECT until the broker accepted it', () => {
    const scanner = new FixedHeaderScanner(limits);
    const chunk = Buffer.concat([CONNECT(), PUBLISH(), PUBLISH()]);
    expect(scanner.scan(chunk)).toBe(CONNECT().length);
    expect(scanner.hold).toBe('connack');
    expect(scanner.scan(chunk, CONNECT().length)).toBe(CONNECT().length);
    scanner.open();
    expect(scanner.scan(chunk, CONNECT().length)).toBe(chunk.length);
  });

  it('counts every packet type after the CONNECT against the message rate, and resumes where it stopped', () => {
    const bucket = new TokenBucket(1, 3, performance.now());
    const scanner = new FixedHeaderScanner(limits, bucket);
    scanner.scan(CONNECT());
    scanner.open();
    // PUBREL, PUBACK and PUBLISH take a token each: the burst of 3 is spent; the PINGREQ waits.
    const chunk = Buffer.concat([pkt(0x62, 2), PUBACK(), PUBLISH(), pkt(0xc0, 0)]);
    const fourth = chunk.length - 2;
    expect(scanner.scan(chunk)).toBe(fourth);
    expect(scanner.hold).toBe('messages');
    expect(scanner.waitMs()).toBeGreaterThan(0);
    expect(scanner.scan(chunk, fourth)).toBe(fourth);
  });

  it('holds the next packet while the readings of earlier ones are owed', () => {
    const readings = new TokenBucket(100, 100, performance.now());
    const scanner = new FixedHeaderScanner(limits, undefined, readings);
    scanner.scan(CONNECT());
    scanner.open();
    expect(scanner.scan(PUBLISH())).toBe(PUBLISH().length);
    // That PUBLISH was a batch of 1,000 readings: 900 over the burst, 9 s at 100/s.
    scanner.chargeReadings(1000);
    expect(scanner.scan(PUBLISH())).toBe(0);
    expect(scanner.hold).toBe('readings');
    expect(scanner.waitMs()).toBeGreaterThan(8000);
  });
});

/** A PassThrough standing in for the socket: what the guard writes comes out of `written`. */
function fakeSocket(): { socket: Socket; written: Buffer[]; destroyed: () => boolean } {
  const socket = new PassThrough() as unknown as Socket & PassThrough;
  const written: Buffer[] = [];
  const write = socket.write.bind(socket);
  (socket as { write: unknown }).write = (chunk: Buffer) => {
    written.push(chunk);
    return write(Buffer.alloc(0));
  };
  return { socket, written, destroyed: () => socket.destroyed };
}

describe('GuardedConnection', () => {
  const meta = { remoteAddress: '127.0.0.1' };
  const quiet = { violation: () => undefined, throttled: () => undefined };
  const turn = () => new Promise((r) => setImmediate(r));
  afterEach(() => vi.useRealTimers());

  it('passes bytes both ways unchanged', async () => {
    const { socket, written } = fakeSocket();
    const events = { violation: () => undefined, throttled: () => undefined };
    const conn = new GuardedConnection(socket, new FixedHeaderScanner(limits), meta, events);
    const got: Buffer[] = [];
    conn.on('data', (d: Buffer) => got.push(d));
    const bytes = Buffer.concat([CONNECT(), PUBLISH()]);
    socket.emit('data', bytes);
    conn.open();
    conn.write(Buffer.from('reply'));
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(got)).toEqual(bytes);
    expect(Buffer.concat(written).toString()).toBe('reply');
  });

  it('corkUntilNextTurn() sends the writes of one turn in one socket write, on the next turn', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const peer = new Promise<Socket>((r) => server.once('connection', r));
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const received: Buffer[] = [];
    (await peer).on('data', (d: Buffer) => received.push(d));
    try {
      const conn = new GuardedConnection(socket, new FixedHeaderScanner(limits), meta, { violation: () => undefined, throttled: () => undefined });
      let socketWrites = 0;
      const handle = (socket as unknown as { _handle: { writev: (...a: unknown[]) => unknown; writeBuffer: (...a: unknown[]) => unknown } })._handle;
      for (const m of ['writev', 'writeBuffer'] as const) {
        const original = handle[m].bind(handle);
        handle[m] = (...a: unknown[]) => (socketWrites++, original(...a));
      }
      conn.corkUntilNextTurn();
      conn.corkUntilNextTurn(); // once per turn, however often it is asked
      for (let i = 0; i < 3; i++) conn.write(PUBACK());
      expect(socketWrites).toBe(0);
      expect(socket.writableCorked).toBe(1);
      await new Promise((r) => setImmediate(r));
      expect(socket.writableCorked).toBe(0);
      expect(socketWrites).toBe(1);
      // Uncorked again: the next write goes out at once.
      conn.write(PUBACK());
      expect(socketWrites).toBe(2);
      const deadline = Date.now() + 2000;
      while (Buffer.concat(received).length < 16 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(Buffer.concat(received)).toEqual(Buffer.concat([PUBACK(), PUBACK(), PUBACK(), PUBACK()]));
    } finally {
      socket.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('destroys the socket on a violation and reports it', async () => {
    const { socket, destroyed } = fakeSocket();
    const seen: string[] = [];
    const conn = new GuardedConnection(socket, new FixedHeaderScanner(limits), meta, { violation: (v) => seen.push(v), throttled: () => undefined });
    const got: Buffer[] = [];
    conn.on('data', (d: Buffer) => got.push(d));
    conn.on('error', () => undefined);
    socket.emit('data', Buffer.from([0x30, 0x00]));
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['first_packet_not_connect']);
    expect(destroyed()).toBe(true);
    expect(conn.destroyed).toBe(true);
    expect(got).toEqual([]);
  });

  it('holds packets over the rate and releases them in order when tokens come', async () => {
    // Fake clock for the bucket and the guard's timer: nothing here depends on a timer firing on time.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { socket } = fakeSocket();
    const throttled: string[] = [];
    const bucket = new TokenBucket(50, 1);
    const conn = new GuardedConnection(socket, new FixedHeaderScanner(limits, bucket), meta, { violation: () => undefined, throttled: (_m, limit) => throttled.push(limit) });
    conn.open();
    const got: Buffer[] = [];
    conn.on('data', (d: Buffer) => got.push(d));
    const bytes = Buffer.concat([CONNECT(), PUBLISH(10), PUBLISH(11), PUBLISH(12)]);
    socket.emit('data', bytes);
    await turn();
    expect(Buffer.concat(got).length).toBe(CONNECT().length + PUBLISH(10).length);
    // 50/s: one token every 20 ms.
    await vi.advanceTimersByTimeAsync(19);
    expect(Buffer.concat(got).length).toBe(CONNECT().length + PUBLISH(10).length);
    await vi.advanceTimersByTimeAsync(2);
    expect(Buffer.concat(got).length).toBe(CONNECT().length + PUBLISH(10).length + PUBLISH(11).length);
    await vi.advanceTimersByTimeAsync(21);
    expect(Buffer.concat(got)).toEqual(bytes);
    expect(throttled).toEqual(['messages', 'messages']);
  });

  it('passes on what it held before ending when the peer finishes sending while throttled', async () => {
    const { socket } = fakeSocket();
    const conn = new GuardedConnection(socket, new FixedHeaderScanner(limits, new TokenBucket(50, 1)), meta, quiet);
    conn.open();
    const got: Buffer[] = [];
    conn.on('data', (d: Buffer) => got.push(d));
    const ended = new Promise<void>((resolve) => conn.on('end', () => resolve()));
    const bytes = Buffer.concat([CONNECT(), PUBLISH(10), PUBLISH(11), pkt(0xe0, 0)]);
    socket.emit('data', bytes);
    socket.emit('end');
    await ended;
    expect(Buffer.concat(got)).toEqual(bytes);
  });

  it('lets the reader take every byte the peer sent when the socket closes before they were read', async () => {
    const { socket } = fakeSocket();
    const conn = new GuardedConnection(socket, new FixedHeaderScanner(limits), meta, quiet);
    conn.open();
    // The broker is busy and reads nothing yet: the bytes wait in the stream's buffer.
    const bytes = Buffer.concat([CONNECT(), ...Array.from({ length: 50 }, () => PUBLISH(100)), pkt(0xe0, 0)]);
    socket.emit('data', bytes);
    socket.emit('end');
    socket.destroy();
    await turn();
    expect(conn.destroyed).toBe(false);
    // An answer to the gone peer goes nowhere and does not tear the stream down.
    await new Promise<void>((resolve, reject) => conn.write(PUBACK(), (err) => (err ? reject(err) : resolve())));
    const got: Buffer[] = [];
    conn.on('data', (d: Buffer) => got.push(d));
    await new Promise<void>((resolve) => conn.on('end', () => resolve()));
    expect(Buffer.concat(got)).toEqual(bytes);
  });

  it('passes on held bytes when the socket closes while they are throttled', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { socket } = fakeSocket();
    const conn = new GuardedConnection(socket, new FixedHeaderScanner(limits, new TokenBucket(100, 2)), meta, quiet);
    conn.open();
    const got: Buffer[] = [];
    conn.on('data', (d: Buffer) => got.push(d));
    let ended = false;
    conn.on('end', () => (ended = true));
    const bytes = Buffer.concat([CONNECT(), ...Array.from({ length: 10 }, () => PUBLISH(30)), pkt(0xe0, 0)]);
    socket.emit('data', bytes);
    socket.emit('end');
    socket.destroy();
    await turn();
    expect(conn.destroyed).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    expect(ended).toBe(true);
    expect(Buffer.concat(got)).toEqual(bytes);
  });

  it('holds what follows the CONNECT until open(), then passes it in order', async () => {
    const { socket } = fakeSocket();
    const conn = new GuardedConnection(socket, new FixedHeaderScanner(limits), meta, quiet);
    const got: Buffer[] = [];
    conn.on('data', (d: Buffer) => got.push(d));
    const bytes = Buffer.concat([CONNECT(), PUBLISH(10), PUBLISH(11)]);
    socket.emit('data', bytes);
    socket.emit('data', PUBLISH(12));
    await turn();
    expect(Buffer.concat(got)).toEqual(CONNECT());
    conn.open();
    await turn();
    expect(Buffer.concat(got)).toEqual(Buffer.concat([bytes, PUBLISH(12)]));
  });

  it('calls back a write waiting for drain when the socket goes away', async () => {
    const { socket } = fakeSocket();
    (socket as { write: unknown }).write = () => false;
    const conn = new GuardedConnection(socket, new FixedHeaderScanner(limits), meta, quiet);
    const written = new Promise<void>((resolve) => conn.write(PUBACK(), () => resolve()));
    await turn();
    socket.destroy();
    await written;
  });
});
