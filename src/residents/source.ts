/**
 * The residents' view reads what the dispatch API reads (http/dispatch-ports.ts), so it works the
 * same on a single node (SQLite and memory) and on a cluster's workers (PostgreSQL): the catalog,
 * every device's latest reading, the open tickets and the services with their privacy.
 */
import type { DispatchApiDeps } from '../http/dispatch-api.js';
import type { TicketAccess } from '../http/dispatch-ports.js';
import type { Ticket } from '../tickets/open311-view.js';
import type { ResidentSource } from './view.js';

/** One page of open tickets: the most a ticket list answers at once. */
const PAGE = 10_000;
/** Pages read at most per snapshot: a city with more open tickets than this shows the newest. */
const MAX_PAGES = 10;

export function residentSource(api: Pick<DispatchApiDeps, 'dispatch' | 'devices'>): ResidentSource {
  return {
    read: async () => {
      const [latest, openTickets] = await Promise.all([api.devices.latest(), openTicketsOf(api.dispatch.tickets)]);
      return { devices: api.devices.devices(), latest, openTickets, services: api.dispatch.services() };
    },
  };
}

async function openTicketsOf(tickets: TicketAccess): Promise<Ticket[]> {
  const out: Ticket[] = [];
  for (let page = 0; page < MAX_PAGES; page++) {
    const got = await tickets.list({ status: 'open', limit: PAGE, offset: page * PAGE });
    out.push(...got);
    if (got.length < PAGE) break;
  }
  return out;
}
