/** The ticket policy contract against the single node's SQLite store (ticket-store.ts). */
import { TicketStore, type TicketTransition } from './ticket-store.js';
import { describeTicketPolicy } from './testing/ticket-contract.js';

describeTicketPolicy('SQLite TicketStore', async () => {
  let clock = 0;
  const transitions: TicketTransition[] = [];
  const store = new TicketStore({ file: ':memory:', onTransition: (t) => transitions.push(t), now: () => clock });
  store.start();
  return {
    apply: async (events, devices, services) => store.apply(events, devices, services),
    close: async (id, notes, by) => store.close(id, notes, by),
    get: async (id) => store.get(id),
    list: async (q) => store.list(q),
    countOpenByService: async () => store.countOpenByService(),
    transitions,
    setClock: (ms) => (clock = ms),
    done: async () => store.stop(),
  };
});
