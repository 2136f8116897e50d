/**
 * What the packet guard costs per message: the fixed-header scanner alone, and aedes taking QoS 0
 * and QoS 1 PUBLISHes over loopback TCP with and without the guard in front of it.
 *
 *   npm run build && node dist/src/broker/packet-guard.bench.js [--messages 200000] [--size 200]
 *   node --import ./src/spool/testing/register-ts.mjs src/broker/packet-guard.bench.ts      (no build)
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import { TokenBucket } from '../security/token-bucket.js';
import { FixedHeaderScanner, GuardedConnection, openOnConnack } from './packet-guard.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    size: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
  },
});
const N = Number(values.messages);
const SIZE = Number(values.size);
const ROUNDS = Number(values.rounds);

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function str(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

function publish(qos: 0 | 1, id: number): Buffer {
  const body = Buffer.concat([str('city/waste-bin/bin-0001/telemetry'), ...(qos ? [Buffer.from([id >> 8, id & 0xff])] : []), Buffer.alloc(SIZE, 0x61)]);
  return Buffer.concat([Buffer.from([0x30 | (qos << 1), ...varint(body.length)]), body]);
}

const connect = (() => {
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 60]), str('bench')]);
  return Buffer.concat([Buffer.from([0x10, ...varint(body.length)]), body]);
})();

/** The scanner alone, over `N` packets in 64 KiB chunks: ns per packet. */
function scannerOnly(): number {
  const one = publish(1, 1);
  const all = Buffer.concat([connect, ...Array.from({ length: Math.min(N, 50_000) }, () => one)]);
  const packets = Math.min(N, 50_000);
  const scanner = () => new FixedHeaderScanner({ maxPacketBytes: 1 << 20, maxConnectBytes: 16384 }, new TokenBucket(1e9));
  let best = Infinity;
  for (let r = 0; r < ROUNDS * 3; r++) {
    const s = scanner();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < all.length; i += 65536) s.scan(all.subarray(i, i + 65536));
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / packets);
  }
  return best;
}

/** aedes taking `N` PUBLISHes from one raw loopback client: µs per message. */
async function throughAedes(guarded: boolean, qos: 0 | 1): Promise<number> {
  const aedes = await Aedes.createBroker({ authorizePublish: (_c, _p, done) => done(null) });
  openOnConnack(aedes);
  let seen = 0;
  let finish: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (finish = resolve));
  aedes.on('publish', (packet, client) => {
    if (client && ++seen === N) finish();
  });
  const server = net.createServer((socket) => {
    if (!guarded) return void aedes.handle(socket);
    const scanner = new FixedHeaderScanner({ maxPacketBytes: 1 << 20, maxConnectBytes: 16384 }, new TokenBucket(1e9));
    aedes.handle(new GuardedConnection(socket, scanner, { remoteAddress: socket.remoteAddress }, { violation: () => undefined, throttled: () => undefined }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  client.write(connect);
  // aedes drops a client that sends more than 42 packets before its CONNACK: wait for it.
  await new Promise((r) => client.once('data', r));
  client.on('data', () => undefined);
  // 64 KiB writes of whole packets, as a busy device connection delivers them.
  const packets = Array.from({ length: 1000 }, (_, i) => publish(qos, (i % 65535) + 1));
  const block = Buffer.concat(packets);
  const t0 = process.hrtime.bigint();
  for (let sent = 0; sent < N; sent += packets.length) {
    if (!client.write(block)) await new Promise((r) => client.once('drain', r));
  }
  await all;
  const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
  client.destroy();
  await new Promise<void>((r) => aedes.close(() => r()));
  await new Promise<void>((r) => server.close(() => r()));
  return us;
}

const scanNs = scannerOnly();
const rows: string[] = [];
for (const qos of [0, 1] as const) {
  const plain: number[] = [];
  const guarded: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    plain.push(await throughAedes(false, qos));
    guarded.push(await throughAedes(true, qos));
  }
  const p = Math.min(...plain);
  const g = Math.min(...guarded);
  rows.push(`| QoS ${qos} | ${p.toFixed(2)} | ${g.toFixed(2)} | ${(g - p).toFixed(2)} |`);
}
process.stdout.write(
  [
    `packet guard, ${N} PUBLISHes of ${SIZE} payload bytes, best of ${ROUNDS} (Node ${process.version})`,
    `scanner alone: ${scanNs.toFixed(0)} ns per packet`,
    '',
    '| aedes over loopback TCP | µs/msg without guard | µs/msg with guard | difference |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n'),
);
