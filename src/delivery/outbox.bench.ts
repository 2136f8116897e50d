/**
 * What picking the next deliveries costs with a backlog (a receiver down for a long time): the
 * deliverer asks `dueHeads` after every completed attempt, so it must stay cheap as pending rows grow.
 *
 *   node --import ./src/spool/testing/register-ts.mjs src/delivery/outbox.bench.ts [--tickets 5000]
 */
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { Outbox } from './outbox.js';
import { lifecycle } from './testing/fixtures.js';

const { values } = parseArgs({ options: { tickets: { type: 'string', default: '5000' } } });
const tickets = Number(values.tickets);
const db = new Database(':memory:');
const outbox = new Outbox({ db, targets: [{ kind: 'webhook', name: 'a', url: 'http://127.0.0.1:1/', secret: 'x'.repeat(16) }] });
outbox.open();
db.transaction(() => {
  for (let i = 0; i < tickets; i++) for (const tr of lifecycle(`T-${i}`)) outbox.enqueue(tr);
})();

function measure(): number {
  const calls = 200;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) outbox.dueHeads('a', Date.now(), 8);
  return Number(((performance.now() - t0) / calls).toFixed(3));
}
const allDue = measure();
// The worst case: every ticket's first message is backing off, so the rows due now are all behind it.
db.prepare('UPDATE delivery_queue SET next_at = ? WHERE seq = 1').run(Date.now() + 3600_000);
const headsWaiting = measure();
console.log(JSON.stringify({ pending: tickets * 3, dueHeadsMs: { allDue, headsWaiting } }));
