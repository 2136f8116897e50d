/**
 * What the HTTP API reads and changes of dispatch on a worker whose state is in PostgreSQL: the same
 * routes as the single node (http/dispatch-ports.ts), answered from the shared tables, so any worker
 * behind a load balancer answers for the whole city. A ticket closed by hand queues its message in
 * the same transaction, as on the single node.
 */
import type pg from 'pg';
import type { DispatchApiDeps } from '../http/dispatch-api.js';
import type { Catalog } from './dispatch.js';
import type { ActiveAlert } from '../dispatch/types.js';
import type { RuleBook } from '../dispatch/rules/rule-book.js';
import type { EventHub } from '../events/event-hub.js';
import type { CloseResult, TicketTransition } from '../tickets/ticket-store.js';
import type { CollectionPlan } from '../collection/plan.js';
import { ParkingZones } from '../parking/zones.js';
import { inTransaction } from '../postgres/database.js';
import type { PgTickets } from '../postgres/pg-tickets.js';
import type { PgOutbox } from '../postgres/pg-outbox.js';
import type { PgEventLog } from '../postgres/pg-events.js';
import { activeRuleRows, latestPlan, latestReadings, savePlan } from '../postgres/pg-reads.js';

export interface ClusterHttpParts {
  pool: pg.Pool;
  book: RuleBook;
  tickets: PgTickets;
  outbox: PgOutbox;
  events: PgEventLog;
  hub: EventHub;
  catalog: () => Catalog;
  workerId: string;
  now: () => number;
  stream: { maxStreams: number; maxStreamsPerAddress: number };
  generatePlan(nowMs: number): Promise<CollectionPlan>;
}

/** Raised alerts of every worker, with their rule's role. */
export async function clusterAlerts(pool: pg.Pool, book: RuleBook): Promise<ActiveAlert[]> {
  return (await activeRuleRows(pool)).map((s) => {
    const role = book.roleOf(s.rule);
    return { deviceId: s.deviceId, rule: s.rule, since: s.since, value: s.value ?? undefined, flapping: s.flapping, ...(role ? { role } : {}) };
  });
}

export function clusterHttpDeps(p: ClusterHttpParts): DispatchApiDeps {
  const alertsByDevice = async () => {
    const out = new Map<string, ActiveAlert[]>();
    for (const a of await clusterAlerts(p.pool, p.book)) {
      const list = out.get(a.deviceId);
      if (list) list.push(a);
      else out.set(a.deviceId, [a]);
    }
    return out;
  };
  const close = async (id: string, notes: string | undefined, by: string): Promise<CloseResult> => {
    const made: TicketTransition[] = [];
    const result = await inTransaction(p.pool, async (c) => {
      const r = await p.tickets.close(c, id, notes, by, (t) => made.push(t));
      for (const t of made) await p.outbox.enqueue(c, t);
      return r;
    });
    if (made.length) p.outbox.notify();
    return result;
  };
  const zones = async () => {
    const catalog = p.catalog();
    const [latest, alerts] = await Promise.all([latestReadings(p.pool), clusterAlerts(p.pool, p.book)]);
    const offline = new Set(alerts.filter((a) => a.role === 'offline').map((a) => a.deviceId));
    return new ParkingZones({ devices: () => catalog.all(), latestFields: (id) => latest.get(id)?.fields, offlineDevices: () => offline, now: p.now }).all();
  };
  return {
    dispatch: {
      tickets: { list: (q) => p.tickets.list(q), get: (id) => p.tickets.get(id), close },
      events: { scan: (q, window) => p.events.scan(q, window) },
      hub: p.hub,
      services: () => p.book.services(),
      now: p.now,
      stream: p.stream,
    },
    devices: {
      devices: () => p.catalog().all(),
      latest: (ids) => latestReadings(p.pool, ids),
      alerts: alertsByDevice,
      openTickets: () => p.tickets.openByDevice(),
    },
    collection: {
      planner: {
        latest: () => latestPlan(p.pool),
        generate: async () => {
          const now = p.now();
          const plan = await p.generatePlan(now);
          await savePlan(p.pool, plan, p.workerId, now);
          return plan;
        },
      },
      now: p.now,
    },
    parking: { zones },
  };
}
