/** The ticket policy contract against PostgreSQL (pg-tickets.ts), on the run's real server. */
import { inject } from 'vitest';
import type { TicketTransition } from '../tickets/ticket-store.js';
import { describeTicketPolicy } from '../tickets/testing/ticket-contract.js';
import { inTransaction, openDatabase } from './database.js';
import { createPgDatabase } from './local-postgres.js';
import { PgTickets } from './pg-tickets.js';

describeTicketPolicy('PostgreSQL PgTickets', async () => {
  let clock = 0;
  const transitions: TicketTransition[] = [];
  const { pool } = await openDatabase(await createPgDatabase(inject('postgresUrl')));
  const tickets = new PgTickets(pool, () => clock);
  const emit = (t: TicketTransition) => void transitions.push(t);
  return {
    apply: (events, devices, services) => inTransaction(pool, (c) => tickets.apply(c, events, devices, services, emit)),
    close: (id, notes, by) => inTransaction(pool, (c) => tickets.close(c, id, notes, by, emit)),
    get: (id) => tickets.get(id),
    list: (q) => tickets.list(q),
    countOpenByService: () => tickets.countOpenByService(),
    transitions,
    setClock: (ms) => (clock = ms),
    done: () => pool.end(),
  };
});
