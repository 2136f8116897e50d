/**
 * The ticket policy (ticket-store.ts) as a contract suite, run against every implementation: the
 * single node's SQLite `TicketStore` and the workers' PostgreSQL `PgTickets`. Each must open, update,
 * hold and close tickets, and emit their transitions, the same way.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ServiceDefinition } from '../../dispatch/rules/rule-book.js';
import { collectEvent, MIN, T0, TestCatalog, device } from '../../dispatch/testing/fixtures.js';
import type { RuleEvent } from '../../dispatch/types.js';
import type { Ticket } from '../open311-view.js';
import type { TicketQuery } from '../ticket-queries.js';
import { serviceLookup, type AppliedEvent, type CloseResult, type ServiceLookup, type TicketDeviceLookup, type TicketTransition } from '../ticket-store.js';

export const SERVICES: ServiceDefinition[] = [
  { serviceCode: 'waste.collect', serviceName: 'Collect a full waste bin', description: 'bin ≥ 80 %', rules: ['waste.collect'], public: true },
  { serviceCode: 'device.battery', serviceName: 'Replace a sensor battery', description: undefined, rules: ['device.battery'], public: true },
];

/** One implementation, fresh and empty, with its clock and the transitions it emitted. */
export interface TicketsUnderTest {
  apply(events: readonly RuleEvent[], devices: TicketDeviceLookup, services: ServiceLookup): Promise<AppliedEvent[]>;
  close(id: string, notes: string | undefined, by: string): Promise<CloseResult>;
  get(id: string): Promise<Ticket | undefined>;
  list(q?: TicketQuery): Promise<Ticket[]>;
  countOpenByService(): Promise<Record<string, number>>;
  readonly transitions: TicketTransition[];
  /** Sets the clock the implementation stamps changes with. */
  setClock(ms: number): void;
  done(): Promise<void>;
}

export const services = serviceLookup(SERVICES);
export const bin = device({ id: 'bin-1', type: 'waste-bin', location: { lat: 52.3731, lon: 4.8922 }, address: 'Dam 1, Amsterdam' });
export const bin2 = device({ id: 'bin-2', type: 'waste-bin', district: 'west' });
export const catalog = new TestCatalog([bin, bin2]);

/** A `waste.collect` event with its usual message. */
export function ev(over: Partial<RuleEvent> & Pick<RuleEvent, 'state'>): RuleEvent {
  return collectEvent({ message: over.state === 'raised' ? 'Collect a full waste bin: fillingLevel 0.85 ≥ 0.8' : 'Collect a full waste bin cleared: fillingLevel 0.1 < 0.3', ...over });
}

export function describeTicketPolicy(name: string, build: () => Promise<TicketsUnderTest>): void {
  describe(`ticket policy: ${name}`, () => {
    let t: TicketsUnderTest;
    beforeEach(async () => {
      t = await build();
      t.setClock(T0 + 5_000);
      return () => t.done();
    });

    it('opens a request with the catalog location, updates it on a flapping notice, closes it on the clear, and opens a new one on the next raise', async () => {
      const applied = await t.apply(
        [
          ev({ state: 'raised' }),
          ev({ state: 'raised', deviceId: 'bin-2', district: 'west' }),
          ev({ state: 'raised', at: T0 + 10 * MIN, flapping: true, message: 'Collect a full waste bin: flapping (7 raises and clears within 1 h)' }),
          ev({ state: 'cleared', at: T0 + 90 * MIN, value: 0.1 }),
        ],
        catalog,
        services,
      );
      const first = applied[0]!.ticketId!;
      const second = applied[1]!.ticketId!;
      expect(applied.map((a) => [a.ticketId, a.transition])).toEqual([
        [first, 'opened'],
        [second, 'opened'],
        [first, 'updated'],
        [first, 'closed'],
      ]);
      expect(t.transitions.map((x) => [x.ticket.service_request_id, x.transition, x.seq, x.cause])).toEqual([
        [first, 'opened', 1, 'event'],
        [second, 'opened', 1, 'event'],
        [first, 'updated', 2, 'event'],
        [first, 'closed', 3, 'event'],
      ]);
      expect(t.transitions[2]!.ticket.status_notes).toBe('Flapping since 2026-06-01T10:10:00.000Z: Collect a full waste bin: flapping (7 raises and clears within 1 h)');
      expect(await t.get(first)).toMatchObject({
        status: 'closed',
        status_notes: 'Closed automatically: rule waste.collect cleared at 2026-06-01T11:30:00.000Z: Collect a full waste bin cleared: fillingLevel 0.1 < 0.3',
        closed_by: 'rule',
        service_code: 'waste.collect',
        service_name: 'Collect a full waste bin',
        requested_datetime: '2026-06-01T10:00:00.000Z',
        lat: 52.3731,
        long: 4.8922,
        address: 'Dam 1, Amsterdam',
        device_id: 'bin-1',
        district: 'centrum',
        severity: 'info',
        held: false,
      });
      const [again] = await t.apply([ev({ state: 'raised', at: T0 + 120 * MIN })], catalog, services);
      expect(again!.transition).toBe('opened');
      expect(again!.ticketId).not.toBe(first);
    });

    it('opens nothing for an event-only rule or a late raise already cleared in its batch', async () => {
      const applied = await t.apply(
        [
          ev({ state: 'raised', rule: 'parking.full', serviceCode: undefined, deviceId: 'meter-1', type: 'parking-meter' }),
          ev({ state: 'cleared', rule: 'parking.full', serviceCode: undefined, deviceId: 'meter-1', type: 'parking-meter' }),
          ev({ state: 'raised', late: true, clearedAt: T0 + MIN }),
          ev({ state: 'cleared', late: true, at: T0 + MIN }),
        ],
        catalog,
        services,
      );
      expect(applied.map((a) => a.transition)).toEqual([undefined, undefined, undefined, undefined]);
      expect(await t.list()).toEqual([]);
      expect((await t.apply([ev({ state: 'raised', late: true })], catalog, services))[0]!.transition).toBe('opened');
    });

    it('holds a ticket closed by hand while its rule stays raised, and opens a new one after a clear and a raise', async () => {
      const [opened] = await t.apply([ev({ state: 'raised' })], catalog, services);
      const id = opened!.ticketId!;
      t.setClock(T0 + 65_000);
      expect(await t.close(id, 'Emptied by crew 7', 'api')).toMatchObject({ ok: true, ticket: { status: 'closed', status_notes: 'Emptied by crew 7', closed_by: 'api', held: true, updated_datetime: '2026-06-01T10:01:05.000Z' } });
      expect(t.transitions.at(-1)).toMatchObject({ transition: 'closed', seq: 2, cause: 'manual' });
      expect(await t.close(id, undefined, 'api')).toMatchObject({ ok: false, reason: 'already_closed', message: `ticket ${id} is already closed (Emptied by crew 7)` });
      expect(await t.close('99999', undefined, 'api')).toEqual({ ok: false, reason: 'not_found', message: 'no ticket with service_request_id "99999"' });
      expect(await t.close('abc', undefined, 'api')).toMatchObject({ ok: false, reason: 'not_found' });
      expect((await t.apply([ev({ state: 'raised', flapping: true })], catalog, services))[0]).toMatchObject({ ticketId: undefined, transition: undefined });
      expect((await t.apply([ev({ state: 'cleared' })], catalog, services))[0]!.transition).toBeUndefined();
      expect((await t.get(id))!.held).toBe(false);
      expect((await t.apply([ev({ state: 'raised', at: T0 + 60 * MIN })], catalog, services))[0]!.transition).toBe('opened');
    });

    it('lists newest first with GeoReport filters, and counts open tickets per service', async () => {
      const applied = await t.apply(
        [
          ev({ state: 'raised', at: T0 }),
          ev({ state: 'raised', at: T0 + 10 * MIN, deviceId: 'bin-2', district: 'west' }),
          ev({ state: 'raised', at: T0 + 20 * MIN, rule: 'device.battery', serviceCode: 'device.battery', value: 0.1 }),
          ev({ state: 'cleared', at: T0 + 30 * MIN, deviceId: 'bin-2', district: 'west' }),
        ],
        catalog,
        services,
      );
      const [a, b, c] = applied.map((x) => x.ticketId!);
      const ids = async (q: TicketQuery) => (await t.list(q)).map((x) => x.service_request_id);
      expect(await ids({})).toEqual([c, b, a]);
      expect(await ids({ status: 'open' })).toEqual([c, a]);
      expect(await ids({ status: 'closed' })).toEqual([b]);
      expect(await ids({ serviceCodes: ['waste.collect'] })).toEqual([b, a]);
      expect(await ids({ serviceCodes: ['device.battery', 'waste.collect'], status: 'open' })).toEqual([c, a]);
      expect(await ids({ start: T0 + 5 * MIN, end: T0 + 10 * MIN })).toEqual([b]);
      expect(await ids({ ids: [a!, c!, 'nope'] })).toEqual([c, a]);
      expect(await ids({ ids: ['nope'] })).toEqual([]);
      expect(await ids({ deviceId: 'bin-1' })).toEqual([c, a]);
      expect(await ids({ limit: 1, offset: 1 })).toEqual([b]);
      expect(await t.countOpenByService()).toEqual({ 'waste.collect': 1, 'device.battery': 1 });
    });
  });
}
