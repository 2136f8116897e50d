/**
 * The cluster phase's broker-only consumer: `connections` MQTT 5 sessions on one shared
 * subscription (the group citypipe's workers use), each acknowledging every QoS 1 message the moment
 * it has read it, with nothing behind it (no parsing, no disk). What a broker delivers to this is its
 * own limit on the machine; what it delivers to citypipe's workers is compared with it.
 *
 * Usage: `node shared-consumer.js <port> <connections> <filter> <lifetimeMs>`. Prints
 * `{"ready":true}` once every connection has its subscription granted, then answers each `stats` line
 * on stdin with `{"received":N,"firstAt":ms,"lastAt":ms}`. Exits when stdin closes or its lifetime
 * is over, whichever comes first.
 */
import net from 'node:net';
import { createInterface } from 'node:readline';
import { PacketReader, PacketType, connackReason5, decodePublish5, encodeConnect5, encodePuback5, encodeSubscribe5, subackReasons5 } from './mqtt-wire.js';

const [portArg, connectionsArg, filter, lifetimeArg] = process.argv.slice(2);
const port = Number(portArg);
const connections = Number(connectionsArg);
const lifetimeMs = Number(lifetimeArg);
if (!(port > 0) || !(connections > 0) || !filter || !(lifetimeMs > 0)) {
  process.stderr.write('usage: shared-consumer <port> <connections> <filter> <lifetimeMs>\n');
  process.exit(2);
}
setTimeout(() => process.exit(3), lifetimeMs).unref();

let received = 0;
let firstAt = 0;
let lastAt = 0;

function fail(why: string): never {
  process.stdout.write(JSON.stringify({ error: why }) + '\n');
  process.exit(1);
}

function open(n: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    const reader = new PacketReader();
    let subscribed = false;
    socket.once('connect', () => socket.write(encodeConnect5({ clientId: `bench-consumer-${n}`, keepaliveS: 0 })));
    socket.on('data', (chunk: Buffer) => {
      const acks: Buffer[] = [];
      reader.push(chunk, (type, body, flags) => {
        if (type === PacketType.PUBLISH) {
          const p = decodePublish5(body, flags);
          const now = Date.now();
          if (firstAt === 0) firstAt = now;
          lastAt = now;
          received++;
          if (p.qos === 1) acks.push(encodePuback5(p.packetId));
        } else if (type === PacketType.CONNACK) {
          const rc = connackReason5(body);
          if (rc !== 0) fail(`consumer ${n}: CONNACK refused with reason code ${rc}`);
          socket.write(encodeSubscribe5(1, filter!));
        } else if (type === PacketType.SUBACK) {
          const codes = subackReasons5(body);
          if (codes[0] !== 1) fail(`consumer ${n}: subscription to ${filter} answered with reason code ${codes[0]} (want 1: granted QoS 1)`);
          subscribed = true;
          resolve();
        }
      });
      // Every message of this chunk acknowledged in one write, as soon as it was read.
      if (acks.length > 0) socket.write(acks.length === 1 ? acks[0]! : Buffer.concat(acks));
    });
    socket.on('error', (err) => fail(`consumer ${n}: ${err.message}`));
    socket.on('close', () => {
      if (!subscribed) fail(`consumer ${n}: connection closed before the subscription was granted`);
    });
  });
}

await Promise.all(Array.from({ length: connections }, (_, i) => open(i + 1)));
process.stdout.write(JSON.stringify({ ready: true }) + '\n');

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'stats') process.stdout.write(JSON.stringify({ received, firstAt, lastAt }) + '\n');
});
lines.on('close', () => process.exit(0));
