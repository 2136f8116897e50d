/**
 * The worker's source against a real broker cluster of one (Debian's mosquitto, MQTT 5 shared
 * subscriptions): what a worker acknowledges, and what it does not, decides what the broker sends
 * again. "Crash" here is a stop that never answers the message ingest holds: no PUBACK was sent.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startMosquitto, type BrokerProcess } from '../../bench/processes.js';
import { silentLogger } from '../observability/logger.js';
import type { RawMessage } from '../ingest/types.js';
import type { Config } from '../config/config.js';
import { ExternalBrokerSource } from './external-broker.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Polls until `check` holds (bounded; no assertion depends on when it happens). */
async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function broker(): Promise<BrokerProcess> {
  const b = await startMosquitto('/usr/sbin/mosquitto', mkdtempSync(path.join(tmpdir(), 'citypipe-source-')), 1024);
  cleanups.push(() => b.stop());
  return b;
}

function config(port: number, workerId: string, connections = 1): NonNullable<Config['externalBroker']> {
  return { url: `mqtt://127.0.0.1:${port}`, username: undefined, password: undefined, caFile: undefined, connections, shareGroup: 'citypipe', workerId };
}

/** A source whose ingest is the test: every message is recorded and answered by `answer`. */
function worker(port: number, workerId: string, answer: (msg: RawMessage, done: (err?: Error) => void) => void, connections = 1) {
  const seen: RawMessage[] = [];
  const source = new ExternalBrokerSource({
    broker: config(port, workerId, connections),
    take: (msg, done) => {
      seen.push(msg);
      answer(msg, done);
      return 1;
    },
    log: silentLogger,
    reconnectMs: 100,
  });
  source.start();
  cleanups.push(() => source.stop(Date.now() + 500));
  return { source, seen };
}

async function device(port: number): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 });
  cleanups.push(() => client.endAsync(true));
  return client;
}

const TOPIC = 'city/waste-bin/bin-1/telemetry';
const payloadsOf = (msgs: readonly RawMessage[]) => msgs.map((m) => m.payload.toString());

describe('the broker-cluster source', () => {
  it('hands ingest the device topic (not the $share filter), as this worker connection, without a device username', async () => {
    const { port } = await broker();
    const w = worker(port, 'w-topic', (_m, done) => done());
    await until('subscribed', () => w.source.connected === 1);
    expect(w.source.problem).toBeUndefined();
    const dev = await device(port);
    await dev.publishAsync(TOPIC, '{"seq":1}', { qos: 1 });
    await dev.publishAsync('application/app-1/device/0011223344556677/event/up', '{}', { qos: 1 });
    await until('both messages', () => w.seen.length === 2);
    expect(w.seen.map((m) => m.topic)).toEqual([TOPIC, 'application/app-1/device/0011223344556677/event/up']);
    expect(w.seen[0]).toMatchObject({ clientId: 'w-topic-1', username: undefined });
  });

  it('sends no PUBACK before ingest answers: a message held when the worker dies comes again to its session', async () => {
    const { port } = await broker();
    const first = worker(port, 'w-crash', () => undefined); // ingest never answers
    await until('subscribed', () => first.source.connected === 1);
    const dev = await device(port);
    await dev.publishAsync(TOPIC, '{"seq":7}', { qos: 1 });
    await until('the message reached ingest', () => first.seen.length === 1);
    await first.source.stop(Date.now() + 200);

    const second = worker(port, 'w-crash', (_m, done) => done());
    await until('the message again', () => second.seen.length === 1);
    expect(payloadsOf(second.seen)).toEqual(['{"seq":7}']);
  });

  it('acknowledges what ingest stored: the next connection of the session does not get it again', async () => {
    const { port } = await broker();
    const first = worker(port, 'w-acked', (_m, done) => done());
    await until('subscribed', () => first.source.connected === 1);
    const dev = await device(port);
    await dev.publishAsync(TOPIC, '{"seq":1}', { qos: 1 });
    await until('stored', () => first.seen.length === 1);
    await first.source.stop(Date.now() + 2000);

    // Sent while the worker is away: the broker holds it in the session; only it comes.
    await dev.publishAsync(TOPIC, '{"seq":2}', { qos: 1 });
    const second = worker(port, 'w-acked', (_m, done) => done());
    await until('the queued message', () => second.seen.length === 1);
    await dev.publishAsync(TOPIC, '{"seq":3}', { qos: 1 });
    await until('the next message', () => second.seen.length === 2);
    expect(payloadsOf(second.seen)).toEqual(['{"seq":2}', '{"seq":3}']);
  });

  it('loses nothing ingest refuses (a full spool): the broker sends it again until it is stored, in order', async () => {
    const { port } = await broker();
    let refusals = 3;
    const stored: string[] = [];
    const w = worker(port, 'w-full', (msg, done) => {
      if (refusals-- > 0) return done(new Error('spool full'));
      stored.push(msg.payload.toString());
      done();
    });
    await until('subscribed', () => w.source.connected === 1);
    const dev = await device(port);
    for (let seq = 1; seq <= 5; seq++) await dev.publishAsync(TOPIC, `{"seq":${seq}}`, { qos: 1 });
    await until('all five stored', () => stored.length >= 5);
    expect(stored).toEqual([1, 2, 3, 4, 5].map((s) => `{"seq":${s}}`));
    // The first message was offered once per refusal, then stored.
    expect(payloadsOf(w.seen).filter((p) => p === '{"seq":1}')).toHaveLength(4);
  });

  it('takes many messages of one connection at once, and acknowledges them only in the order they came', async () => {
    const { port } = await broker();
    const held: { payload: string; done: (err?: Error) => void }[] = [];
    const first = worker(port, 'w-pipeline', (msg, done) => void held.push({ payload: msg.payload.toString(), done }));
    await until('subscribed', () => first.source.connected === 1);
    const dev = await device(port);
    await Promise.all(Array.from({ length: 10 }, (_, i) => dev.publishAsync(TOPIC, `{"seq":${i}}`, { qos: 1 })));
    // All ten reach ingest on one connection while none is answered: they can share one fsync.
    await until('ten messages in ingest at once', () => held.length === 10);
    // Stored, all but the first: no PUBACK may go out for them before the first one's.
    for (const h of held.slice(1)) h.done();
    await first.source.stop(Date.now() + 300);

    const second = worker(port, 'w-pipeline', (_m, done) => done());
    await until('all ten again', () => second.seen.length === 10);
    expect(new Set(payloadsOf(second.seen)).size).toBe(10);
    await second.source.stop(Date.now() + 2000);
    // Acknowledged this time: a third connection of the session gets nothing again.
    const third = worker(port, 'w-pipeline', (_m, done) => done());
    await until('subscribed', () => third.source.connected === 1);
    await dev.publishAsync(TOPIC, '{"seq":10}', { qos: 1 });
    await until('the new message', () => third.seen.length >= 1);
    expect(payloadsOf(third.seen)).toEqual(['{"seq":10}']);
  });

  it('shares the group: two workers split the messages, each message goes to one of them', async () => {
    const { port } = await broker();
    const a = worker(port, 'w-a', (_m, done) => done(), 2);
    const b = worker(port, 'w-b', (_m, done) => done(), 2);
    await until('both subscribed', () => a.source.connected === 2 && b.source.connected === 2);
    const dev = await device(port);
    for (let seq = 0; seq < 40; seq++) await dev.publishAsync(TOPIC, `{"seq":${seq}}`, { qos: 1 });
    await until('40 messages', () => a.seen.length + b.seen.length >= 40);
    expect(a.seen.length).toBeGreaterThan(0);
    expect(b.seen.length).toBeGreaterThan(0);
    expect(new Set([...payloadsOf(a.seen), ...payloadsOf(b.seen)]).size).toBe(40);
    expect(a.seen.length + b.seen.length).toBe(40);
  });

  it('publishes rule events back to the cluster, and says when no connection is up', async () => {
    const { port } = await broker();
    const w = worker(port, 'w-events', (_m, done) => done());
    expect(w.source.problem).toMatch(/^no connection to the broker cluster at mqtt:\/\/127\.0\.0\.1:\d+ is up/);
    // The URL is named without the account it may carry.
    const withAccount = new ExternalBrokerSource({ broker: { ...config(port, 'w-secret'), url: `mqtt://citypipe:s3cret@127.0.0.1:${port}` }, take: () => 0, log: silentLogger });
    expect(withAccount.problem).toContain(`mqtt://127.0.0.1:${port}`);
    expect(withAccount.problem).not.toContain('s3cret');
    await expect(w.source.publish('city/events/waste-bin/bin-1', '{}')).rejects.toThrow(/no connection/);
    await until('subscribed', () => w.source.connected === 1);
    const listener = await device(port);
    const got: string[] = [];
    listener.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    await listener.subscribeAsync('city/events/#', { qos: 1 });
    await w.source.publish('city/events/waste-bin/bin-1', '{"state":"raised"}');
    await until('the event', () => got.length === 1);
    expect(got).toEqual(['city/events/waste-bin/bin-1 {"state":"raised"}']);
  });
});
