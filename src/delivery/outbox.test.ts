import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox } from './outbox.js';
import { tempDb, type TempDb } from './testing/db.js';
import { lifecycle } from './testing/fixtures.js';
import type { DeliveryTarget } from './types.js';

const webhook: DeliveryTarget = { kind: 'webhook', name: 'webhook:a', url: 'http://127.0.0.1:1/a', secret: 'x'.repeat(16) };
const open311: DeliveryTarget = { kind: 'open311', name: 'open311', url: 'http://127.0.0.1:1/open311/v2', apiKey: 'k' };

/** What a ticket store would have: its own table, written in the same transaction as the hook. */
function ticketStore(t: TempDb, outbox: Outbox) {
  t.db.exec('CREATE TABLE IF NOT EXISTS tickets (id TEXT PRIMARY KEY, seq INTEGER NOT NULL)');
  const upsert = t.db.prepare('INSERT INTO tickets (id, seq) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq');
  return {
    apply: t.db.transaction((tr: ReturnType<typeof lifecycle>[number], fail = false) => {
      upsert.run(tr.ticket.service_request_id, tr.seq);
      outbox.enqueue(tr);
      if (fail) throw new Error('ticket store failed after the hook');
    }),
  };
}

describe('Outbox', () => {
  let t: TempDb;
  beforeEach(() => {
    t = tempDb();
  });
  afterEach(() => t.cleanup());

  it('enqueue inside a rolled-back transaction leaves nothing, in the ticket table or the outbox', () => {
    const outbox = new Outbox({ db: t.db, targets: [webhook, open311] });
    outbox.open();
    const store = ticketStore(t, outbox);
    const [opened] = lifecycle('T-1');
    expect(() => store.apply(opened!, true)).toThrow('ticket store failed');
    expect(t.db.prepare('SELECT count(*) AS n FROM tickets').get()).toEqual({ n: 0 });
    expect(outbox.deliveriesOf('T-1')).toEqual([]);
    expect(outbox.stats()).toEqual({ 'webhook:a': { pending: 0, oldestPendingAgeMs: 0, failed: 0 }, open311: { pending: 0, oldestPendingAgeMs: 0, failed: 0 } });

    // Also when the caller manages the transaction by hand.
    t.db.exec('BEGIN');
    outbox.enqueue(opened!);
    t.db.exec('ROLLBACK');
    expect(t.db.prepare('SELECT count(*) AS n FROM delivery_messages').get()).toEqual({ n: 0 });
    expect(t.db.prepare('SELECT count(*) AS n FROM delivery_queue').get()).toEqual({ n: 0 });

    // And the same transition committed is there, after a reopen of the file.
    store.apply(opened!);
    t.reopen();
    const reopened = new Outbox({ db: t.db, targets: [webhook, open311] });
    reopened.open();
    expect(reopened.deliveriesOf('T-1').map((d) => [d.target, d.key, d.state])).toEqual([
      ['open311', 'T-1:1', 'pending'],
      ['webhook:a', 'T-1:1', 'pending'],
    ]);
  });

  it('makes one delivery per target that wants the transition: Open311 takes only opened', () => {
    const outbox = new Outbox({ db: t.db, targets: [webhook, open311] });
    outbox.open();
    for (const tr of lifecycle('T-2')) outbox.enqueue(tr);
    expect(outbox.deliveriesOf('T-2', 'webhook:a').map((d) => [d.key, d.transition])).toEqual([
      ['T-2:1', 'opened'],
      ['T-2:2', 'updated'],
      ['T-2:3', 'closed'],
    ]);
    expect(outbox.deliveriesOf('T-2', 'open311').map((d) => d.key)).toEqual(['T-2:1']);
    expect(outbox.stats()['webhook:a']?.pending).toBe(3);
  });

  it('keeps the ticket as it was at each transition', () => {
    const outbox = new Outbox({ db: t.db, targets: [webhook] });
    outbox.open();
    for (const tr of lifecycle('T-3')) outbox.enqueue(tr);
    expect(outbox.deliveriesOf('T-3').map((d) => [d.ticket.status, d.ticket.status_notes])).toEqual([
      ['open', null],
      ['open', 'crew on the way'],
      ['closed', 'collected'],
    ]);
  });

  it('ignores the same (ticket, seq) a second time', () => {
    const outbox = new Outbox({ db: t.db, targets: [webhook] });
    outbox.open();
    const [opened] = lifecycle('T-4');
    expect(outbox.enqueue(opened!)).toBe(true);
    expect(outbox.enqueue({ ...opened!, at: opened!.at + 5 })).toBe(false);
    expect(outbox.deliveriesOf('T-4')).toHaveLength(1);
  });

  it('a target added later gets only messages enqueued after it was configured', () => {
    const [opened, updated] = lifecycle('T-5');
    const before = new Outbox({ db: t.db, targets: [webhook] });
    before.open();
    before.enqueue(opened!);
    const later: DeliveryTarget = { ...webhook, name: 'webhook:b', url: 'http://127.0.0.1:1/b' };
    const after = new Outbox({ db: t.db, targets: [webhook, later] });
    after.open();
    after.enqueue(updated!);
    expect(after.deliveriesOf('T-5', 'webhook:a').map((d) => d.seq)).toEqual([1, 2]);
    expect(after.deliveriesOf('T-5', 'webhook:b').map((d) => d.seq)).toEqual([2]);
  });

  it('offers only the first pending message of each ticket as due, and heals a line whose head was removed', () => {
    const outbox = new Outbox({ db: t.db, targets: [webhook] });
    outbox.open();
    for (const tr of lifecycle('T-7')) outbox.enqueue(tr);
    outbox.enqueue(lifecycle('T-8')[0]!);
    const now = Date.now() + 1;
    expect(outbox.dueHeads('webhook:a', now, 10).map((d) => d.key).sort()).toEqual(['T-7:1', 'T-8:1']);
    expect(outbox.deliveriesOf('T-7').map((d) => d.nextAt === null)).toEqual([false, true, true]);

    const [head] = outbox.deliveriesOf('T-7');
    outbox.markFailed(head!.messageId, 'webhook:a', 400, 'HTTP 400');
    // Which heads are due is the point, not their order (two due times can fall in one millisecond).
    expect(outbox.dueHeads('webhook:a', Date.now() + 1, 10).map((d) => d.key).sort()).toEqual(['T-7:2', 'T-8:1']);

    // Someone deletes the pending head by hand: the next open gives the line a due time again.
    t.db.prepare(`DELETE FROM delivery_queue WHERE target = 'webhook:a' AND seq = 2 AND ticket_id = 'T-7'`).run();
    const reopened = new Outbox({ db: t.db, targets: [webhook] });
    reopened.open();
    expect(reopened.dueHeads('webhook:a', Date.now() + 1, 10).map((d) => d.key).sort()).toEqual(['T-7:3', 'T-8:1']);
  });

  it('moves rows stored under a target\'s former name to its current one at open (a webhook once keyed by its URL path)', () => {
    const legacy: DeliveryTarget = { kind: 'webhook', name: 'webhook:https://hooks.example/services/T0/B0/SECRET', url: 'https://hooks.example/services/T0/B0/SECRET', secret: 'x'.repeat(16) };
    const before = new Outbox({ db: t.db, targets: [legacy] });
    before.open();
    for (const tr of lifecycle('T-9')) before.enqueue(tr);
    before.markDelivered(before.deliveriesOf('T-9')[0]!.messageId, legacy.name, 201, { id: 'R-9', kind: 'service_request_id' });

    const renamed: DeliveryTarget = { ...legacy, name: 'webhook:https://hooks.example#0123456789ab', label: 'webhook:https://hooks.example', formerNames: [legacy.name] };
    const after = new Outbox({ db: t.db, targets: [renamed] });
    after.open();
    expect(after.deliveriesOf('T-9').map((d) => [d.target, d.seq])).toEqual([
      [renamed.name, 1],
      [renamed.name, 2],
      [renamed.name, 3],
    ]);
    expect(after.remoteRefOf('T-9', renamed.name)).toEqual({ id: 'R-9', kind: 'service_request_id' });
    const stored = t.db.prepare(`SELECT count(*) AS n FROM delivery_queue WHERE target LIKE '%SECRET%'`).get() as { n: number };
    expect(stored.n).toBe(0);
    expect(after.stats()[renamed.name]).toMatchObject({ pending: 2, failed: 0 });
  });

  it('counts pending and failed per target, delivered rows aside, and the age of the oldest pending one', () => {
    const outbox = new Outbox({ db: t.db, targets: [webhook] });
    outbox.open();
    for (const id of ['T-10', 'T-11', 'T-12']) for (const tr of lifecycle(id)) outbox.enqueue(tr);
    for (const d of outbox.deliveriesOf('T-10')) outbox.markDelivered(d.messageId, 'webhook:a', 200, undefined);
    outbox.markFailed(outbox.deliveriesOf('T-11')[0]!.messageId, 'webhook:a', 400, 'HTTP 400');
    expect(outbox.stats(Date.now() + 1000)['webhook:a']).toMatchObject({ pending: 5, failed: 1 });
    expect(outbox.stats(Date.now() + 1000)['webhook:a']!.oldestPendingAgeMs).toBeGreaterThanOrEqual(1000);
  });

  it('refuses duplicate target names, a bad seq, and use before open', () => {
    expect(() => new Outbox({ db: t.db, targets: [webhook, webhook] }).open()).toThrow('"webhook:a" is used twice');
    const outbox = new Outbox({ db: t.db, targets: [webhook] });
    expect(() => outbox.enqueue(lifecycle('T-6')[0]!)).toThrow('open()');
    outbox.open();
    expect(() => outbox.enqueue({ ...lifecycle('T-6')[0]!, seq: 0 })).toThrow(RangeError);
  });
});
