import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger, silentLogger } from '../observability/logger.js';
import { Deliverer, type DelivererOptions, type DeliveredEvent, type FailedEvent, type RetryEvent } from './deliverer.js';
import { Outbox } from './outbox.js';
import { tempDb, type TempDb } from './testing/db.js';
import { lifecycle } from './testing/fixtures.js';
import { eventually, TestReceiver, type ReceivedRequest } from './testing/receiver.js';
import type { DeliveryTarget } from './types.js';
import { verifySignature, type WebhookPayload } from './webhook.js';

const SECRET = 'deliverer-test-secret-0123';

interface Run {
  outbox: Outbox;
  deliverer: Deliverer;
  delivered: DeliveredEvent[];
  retries: RetryEvent[];
  failed: FailedEvent[];
}

describe('Deliverer', () => {
  let t: TempDb;
  let receiver: TestReceiver;
  const running: Deliverer[] = [];

  beforeEach(async () => {
    t = tempDb();
    receiver = await new TestReceiver().up();
  });
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop(1000);
    await receiver.down();
    t.cleanup();
  });

  const target = (): DeliveryTarget => ({ kind: 'webhook', name: 'city', url: `${receiver.url}/hook`, secret: SECRET });

  /** An outbox and a started deliverer on the current database, with short backoffs. */
  function start(opts: Partial<DelivererOptions> = {}, targets: DeliveryTarget[] = [target()]): Run {
    const outbox = new Outbox({ db: t.db, targets });
    outbox.open();
    const run: Run = { outbox, deliverer: undefined as unknown as Deliverer, delivered: [], retries: [], failed: [] };
    run.deliverer = new Deliverer({
      outbox,
      log: silentLogger,
      pollIntervalMs: 20,
      backoff: { baseMs: 20, maxMs: 150 },
      onDelivered: (e) => run.delivered.push(e),
      onRetry: (e) => run.retries.push(e),
      onFailed: (e) => run.failed.push(e),
      ...opts,
    });
    run.deliverer.start();
    running.push(run.deliverer);
    return run;
  }

  const keyOf = (r: ReceivedRequest) => r.headers['idempotency-key'] as string;

  it('a receiver down (refused, then 503) during open, update and close gets all three in order afterwards, with stable keys', async () => {
    const answered: { key: string; status: number; body: string }[] = [];
    let status = 503;
    receiver.respond = (req) => {
      answered.push({ key: keyOf(req), status, body: req.body });
      return { status };
    };
    await receiver.down(); // connection refused
    const run = start();
    const [opened, updated, closed] = lifecycle('T-1');
    run.outbox.enqueue(opened!);
    await eventually(() => run.retries.length >= 2, 'retries while refused');
    expect(run.retries[0]?.error).toContain('ECONNREFUSED');

    await receiver.up(); // answers 503 now
    run.outbox.enqueue(updated!);
    run.outbox.enqueue(closed!);
    await receiver.waitFor(3);
    expect(run.outbox.stats()['city']).toMatchObject({ pending: 3, failed: 0 });
    expect(run.outbox.stats()['city']?.oldestPendingAgeMs).toBeGreaterThan(0);

    status = 200; // back
    await eventually(() => run.delivered.length === 3, 'three deliveries');
    const ok = answered.filter((a) => a.status === 200);
    expect(ok.map((a) => a.key)).toEqual(['T-1:1', 'T-1:2', 'T-1:3']);
    expect(ok.map((a) => (JSON.parse(a.body) as WebhookPayload).type)).toEqual(['ticket.opened', 'ticket.updated', 'ticket.closed']);
    // While the first message was failing, nothing later of the ticket was sent.
    expect(answered.map((a) => a.key)).toEqual([...answered.map((a) => a.key)].sort());
    // Every attempt of a message carried the same key and the same body.
    const firstBodies = answered.filter((a) => a.key === 'T-1:1').map((a) => a.body);
    expect(firstBodies.length).toBeGreaterThan(1);
    expect(new Set(firstBodies).size).toBe(1);
    for (const req of receiver.requests) {
      expect(verifySignature(SECRET, req.headers['x-citypipe-signature'] as string, req.headers['x-citypipe-timestamp'] as string, req.body, 300)).toBe(true);
    }
    expect(run.delivered.map((d) => d.key)).toEqual(['T-1:1', 'T-1:2', 'T-1:3']);
    expect(run.deliverer.stats()['city']).toEqual({ pending: 0, oldestPendingAgeMs: 0, failed: 0, inFlight: 0 });
  });

  it('honours Retry-After over a shorter backoff, for the whole target', async () => {
    receiver.respond = (_req, i) => (i === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 204 });
    const run = start();
    run.outbox.enqueue(lifecycle('T-1')[0]!);
    await eventually(() => run.retries.length === 1, 'the 429');
    // Another ticket's message does not go before the receiver said it may.
    run.outbox.enqueue(lifecycle('T-2')[0]!);
    await eventually(() => run.delivered.length === 2, 'deliveries after Retry-After');
    const [first, ...later] = receiver.requests;
    expect(later).toHaveLength(2);
    for (const r of later) expect(r.at - first!.at).toBeGreaterThanOrEqual(950);
    expect(run.retries).toMatchObject([{ key: 'T-1:1', status: 429, delayMs: 1000, attempt: 1 }]);
    expect(run.delivered.find((d) => d.key === 'T-1:1')).toMatchObject({ attempt: 2 });
  });

  it('backs off exponentially between retries', async () => {
    receiver.respond = () => ({ status: 500 });
    const run = start({ backoff: { baseMs: 40, maxMs: 10_000 }, random: () => 1 });
    run.outbox.enqueue(lifecycle('T-1')[0]!);
    await eventually(() => run.retries.length >= 4, 'four retries');
    expect(run.retries.slice(0, 4).map((r) => r.delayMs)).toEqual([40, 80, 160, 320]);
    const at = receiver.requests.map((r) => r.at);
    expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(150);
  });

  it('a 400 is recorded as failed with status and body, not retried, and the ticket’s next message is still sent', async () => {
    receiver.respond = (req) => (keyOf(req) === 'T-1:1' ? { status: 400, body: '{"error":"unknown service_code waste.collect"}' } : { status: 204 });
    const run = start();
    for (const tr of lifecycle('T-1')) run.outbox.enqueue(tr);
    await eventually(() => run.delivered.length === 2, 'the later messages');
    await new Promise((r) => setTimeout(r, 200));
    expect(receiver.requests.map(keyOf)).toEqual(['T-1:1', 'T-1:2', 'T-1:3']);
    expect(run.failed).toMatchObject([{ key: 'T-1:1', status: 400, bodyExcerpt: '{"error":"unknown service_code waste.collect"}' }]);
    const rows = run.outbox.deliveriesOf('T-1', 'city');
    expect(rows.map((r) => [r.key, r.state, r.lastStatus])).toEqual([
      ['T-1:1', 'failed', 400],
      ['T-1:2', 'delivered', 204],
      ['T-1:3', 'delivered', 204],
    ]);
    expect(rows[0]?.lastError).toContain('unknown service_code');
    expect(run.deliverer.stats()['city']).toMatchObject({ pending: 0, failed: 1 });
    expect(run.outbox.failed('city').map((r) => r.key)).toEqual(['T-1:1']);

    // After the receiver is fixed, an operator can send failed ones again.
    receiver.respond = () => ({ status: 204 });
    expect(run.outbox.requeueFailed('city')).toBe(1);
    await eventually(() => run.delivered.length === 3, 'the requeued message');
    expect(run.deliverer.stats()['city']).toMatchObject({ pending: 0, failed: 0 });
  });

  it('keeps each ticket in order while other tickets go in parallel, bounded per target', async () => {
    let open = 0;
    let maxOpen = 0;
    const answeredAt = new Map<string, number>();
    receiver.respond = (req) => {
      const key = keyOf(req);
      const delayMs = key === 'A:1' ? 500 : 150;
      open++;
      maxOpen = Math.max(maxOpen, open);
      setTimeout(() => {
        open--;
        answeredAt.set(key, Date.now());
      }, delayMs);
      return { status: 204, delayMs };
    };
    const run = start({ concurrencyPerTarget: 2 });
    const [aOpened, aUpdated] = lifecycle('A');
    run.outbox.enqueue(aOpened!);
    run.outbox.enqueue(aUpdated!);
    for (const id of ['B', 'C', 'D']) run.outbox.enqueue(lifecycle(id)[0]!);
    await eventually(() => run.delivered.length === 5, 'five deliveries');
    const arrived = new Map(receiver.requests.map((r) => [keyOf(r), r.at]));
    // B went while A:1 was still waiting for its answer…
    expect(arrived.get('B:1')!).toBeLessThan(answeredAt.get('A:1')!);
    // …but A:2 only after A:1 was answered.
    expect(arrived.get('A:2')!).toBeGreaterThanOrEqual(answeredAt.get('A:1')! - 5);
    expect(maxOpen).toBe(2);
  });

  it('a new Deliverer on the same database file picks up where a stopped one left off', async () => {
    await receiver.down();
    const first = start();
    for (const tr of lifecycle('T-1')) first.outbox.enqueue(tr);
    first.outbox.enqueue(lifecycle('T-2')[0]!);
    await eventually(() => first.retries.length >= 2, 'retries while down');
    await first.deliverer.stop();

    t.reopen();
    const answered: string[] = [];
    receiver.respond = (req) => {
      answered.push(keyOf(req));
      return { status: 204 };
    };
    await receiver.up();
    const second = start();
    await eventually(() => second.delivered.length === 4, 'four deliveries after restart');
    expect(answered.filter((k) => k.startsWith('T-1:'))).toEqual(['T-1:1', 'T-1:2', 'T-1:3']);
    expect(answered.filter((k) => k.startsWith('T-2:'))).toEqual(['T-2:1']);
    expect(answered).toHaveLength(4);
    // The attempts made before the restart count.
    expect(second.delivered.find((d) => d.key === 'T-1:1')?.attempt).toBeGreaterThan(1);
  });

  it('stop waits for a request in flight; past its timeout it aborts and leaves the message pending for the next start', async () => {
    receiver.respond = () => ({ status: 204, delayMs: 300 });
    const run = start();
    run.outbox.enqueue(lifecycle('T-1')[0]!);
    await receiver.waitFor(1);
    await run.deliverer.stop(5000);
    expect(run.outbox.deliveriesOf('T-1')[0]).toMatchObject({ state: 'delivered', attempts: 1 });

    receiver.respond = () => ({ status: 204, delayMs: 3000 });
    const second = start();
    second.outbox.enqueue(lifecycle('T-2')[0]!);
    await receiver.waitFor(2);
    const started = Date.now();
    await second.deliverer.stop(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(second.outbox.deliveriesOf('T-2')[0]).toMatchObject({ state: 'pending', attempts: 0 });

    receiver.respond = () => ({ status: 204 });
    const third = start();
    await eventually(() => third.delivered.length === 1, 'the aborted message after restart');
    expect(receiver.requests.map(keyOf)).toEqual(['T-1:1', 'T-2:1', 'T-2:1']);
  });

  it('prunes delivered rows after the retention period, failed ones after theirs', async () => {
    receiver.respond = (req) => (keyOf(req) === 'T-1:2' ? { status: 422 } : { status: 204 });
    const run = start({ retentionMs: 60_000, failedRetentionMs: 120_000 });
    for (const tr of lifecycle('T-1')) run.outbox.enqueue(tr);
    await eventually(() => run.delivered.length + run.failed.length === 3, 'all three done');
    expect(run.deliverer.prune()).toBe(0);
    await run.deliverer.stop();

    const count = (table: string) => (t.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    const later = start({ retentionMs: 60_000, failedRetentionMs: 120_000, now: () => Date.now() + 61_000 });
    await later.deliverer.stop();
    expect(later.outbox.deliveriesOf('T-1').map((d) => [d.key, d.state])).toEqual([['T-1:2', 'failed']]);
    expect(count('delivery_messages')).toBe(1);

    const muchLater = start({ retentionMs: 60_000, failedRetentionMs: 120_000, now: () => Date.now() + 121_000 });
    await muchLater.deliverer.stop();
    expect(count('delivery_queue')).toBe(0);
    expect(count('delivery_messages')).toBe(0);
  });

  it('logs a rejection once, as an error with code, target, ticket, device and the answer; nothing for a success', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    receiver.respond = (req) => (keyOf(req) === 'T-1:1' ? { status: 403, body: 'bad signature' } : { status: 204 });
    const run = start({ log: createLogger('info', sink) });
    for (const tr of lifecycle('T-1')) run.outbox.enqueue(tr);
    await eventually(() => run.delivered.length === 2, 'the later messages');
    await new Promise((r) => setTimeout(r, 50));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, code: 'CP_ERR_DELIVERY_REJECTED', target: 'city', ticketId: 'T-1', deviceId: 'bin-0042', key: 'T-1:1', status: 403, body: 'bad signature' });
  });

  it('names a target by its label and never lets its secret path, key or secret into logs, events or stored errors', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const secretPath = '/services/T0SECRET01/B0SECRET02/XyZsecretPathToken123';
    // Answers as some servers do: a 404 page that echoes the path, a 500 that echoes the whole URL,
    // a redirect to a URL with a token; then it takes the message.
    const answers = [
      { status: 404, body: `Cannot POST ${secretPath}` },
      { status: 500, body: `upstream failed for ${receiver.url}${secretPath}?a=1` },
      { status: 302, headers: { location: `${receiver.url}/login?next=${encodeURIComponent(secretPath)}&token=T0SECRET03` } },
    ];
    receiver.respond = (_req, i) => answers[i] ?? { status: 204 };
    const hook: DeliveryTarget = { kind: 'webhook', name: 'webhook:key', label: 'webhook:ops', url: `${receiver.url}${secretPath}`, secret: SECRET };
    const run = start({ log: createLogger('debug', sink) }, [hook]);
    for (const tr of lifecycle('T-1')) run.outbox.enqueue(tr);
    await eventually(() => run.delivered.length + run.failed.length === 3, 'every message settled');
    expect(run.failed.map((f) => f.status).sort()).toEqual([302, 404]);
    expect(run.retries.map((r) => r.status)).toEqual([500]);
    const seen = JSON.stringify({ lines, events: [run.delivered, run.retries, run.failed], stored: run.outbox.deliveriesOf('T-1'), stats: run.deliverer.stats() });
    expect(seen).toContain('webhook:ops');
    expect(seen).toContain('[redacted]');
    for (const secret of ['T0SECRET01', 'B0SECRET02', 'XyZsecretPathToken123', 'T0SECRET03', SECRET]) expect(seen, secret).not.toContain(secret);
  });

  it('a throwing listener does not stop deliveries', async () => {
    const run = start({
      onDelivered: () => {
        throw new Error('metrics broke');
      },
    });
    for (const tr of lifecycle('T-1')) run.outbox.enqueue(tr);
    await receiver.waitFor(3);
    await eventually(() => run.outbox.stats()['city']?.pending === 0, 'nothing pending');
  });
});
