import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../observability/logger.js';
import { RulesStage, defaultRulesFile } from '../dispatch/rules-stage.js';
import { MIN, T0, reading } from '../dispatch/testing/fixtures.js';
import type { ActiveAlert } from '../dispatch/types.js';
import { TicketStore, openDispatchDb, serviceLookup, type TicketTransition } from './ticket-store.js';
import { bin, catalog, ev, services } from './testing/ticket-contract.js';

let dir: string;
let clock: number;
const stores: TicketStore[] = [];

function open(opts: { onTransition?: (t: TicketTransition) => void; db?: Database.Database } = {}): TicketStore {
  const store = opts.db
    ? new TicketStore({ db: opts.db, onTransition: opts.onTransition, now: () => clock })
    : new TicketStore({ dataDir: dir, onTransition: opts.onTransition, now: () => clock });
  store.start();
  stores.push(store);
  return store;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'citypipe-tickets-'));
  clock = T0 + 5_000;
});
afterEach(() => {
  for (const s of stores.splice(0)) s.stop();
  rmSync(dir, { recursive: true, force: true });
});

// The policy itself (updates, holds, event-only rules, queries) is the contract suite's
// (testing/ticket-contract.ts, run against SQLite and PostgreSQL); here what is SQLite's own.
describe('TicketStore.apply', () => {
  it('opens a GeoReport request on a raise, with the catalog location, durable in <dataDir>/dispatch.db', () => {
    const store = open();
    const [applied] = store.apply([ev({ state: 'raised' })], catalog, services);
    expect(applied).toMatchObject({ ticketId: '1', transition: 'opened' });
    store.stop();

    const again = open();
    expect(again.db.name).toBe(path.join(dir, 'dispatch.db'));
    expect(again.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(again.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(again.get('1')).toEqual({
      service_request_id: '1',
      status: 'open',
      status_notes: null,
      service_code: 'waste.collect',
      service_name: 'Collect a full waste bin',
      description: 'Collect a full waste bin: fillingLevel 0.85 ≥ 0.8',
      requested_datetime: '2026-06-01T10:00:00.000Z',
      updated_datetime: '2026-06-01T10:00:05.000Z',
      lat: 52.3731,
      long: 4.8922,
      address: 'Dam 1, Amsterdam',
      device_id: 'bin-1',
      rule: 'waste.collect',
      district: 'centrum',
      severity: 'info',
      seq: 1,
      closed_by: null,
      held: false,
    });
  });

  it('closes the ticket of a rule turned event-only while it was raised', () => {
    const store = open();
    store.apply([ev({ state: 'raised' })], catalog, services);
    const [closed] = store.apply([ev({ state: 'cleared', serviceCode: undefined, message: 'waste.collect cleared: the rule no longer applies to this device' })], catalog, services);
    expect(closed).toMatchObject({ ticketId: '1', transition: 'closed' });
  });

  it('still opens a ticket for a device that left the catalog, without a location', () => {
    const store = open();
    store.apply([ev({ state: 'raised', deviceId: 'bin-gone' })], catalog, services);
    expect(store.get('1')).toMatchObject({ device_id: 'bin-gone', lat: null, long: null, address: null });
  });

  it('refuses a second open ticket for a (device, rule) in the database itself', () => {
    const store = open();
    store.apply([ev({ state: 'raised' })], catalog, services);
    const insert = () =>
      store.db
        .prepare(
          `INSERT INTO tickets (status, service_code, service_name, description, requested_at, updated_at, device_id, rule, district, seq)
           VALUES ('open', 'waste.collect', 'x', 'x', 0, 0, 'bin-1', 'waste.collect', 'centrum', 1)`,
        )
        .run();
    expect(insert).toThrow(/UNIQUE constraint failed/);
  });

  it('rolls the whole batch back when onTransition throws, so tickets and notifications never diverge', () => {
    let fail = false;
    const store = open({
      onTransition: (t) => {
        if (fail && t.ticket.device_id === 'bin-2') throw new Error('outbox full');
      },
    });
    store.apply([ev({ state: 'raised' })], catalog, services);
    fail = true;
    expect(() => store.apply([ev({ state: 'cleared' }), ev({ state: 'raised', deviceId: 'bin-2' })], catalog, services)).toThrow('outbox full');
    expect(store.get('1')!.status).toBe('open');
    expect(store.list()).toHaveLength(1);
  });

  it('joins the caller transaction on a shared database: an outer rollback undoes the tickets too', () => {
    const db = openDispatchDb(path.join(dir, 'shared.db'));
    db.exec('CREATE TABLE outbox (ticket_id TEXT, seq INTEGER)');
    const addOutbox = db.prepare('INSERT INTO outbox VALUES (?, ?)');
    const store = open({ db, onTransition: (t) => addOutbox.run(t.ticket.service_request_id, t.seq) });
    const outer = db.transaction(() => {
      store.apply([ev({ state: 'raised' })], catalog, services);
      throw new Error('event log write failed');
    });
    expect(() => outer()).toThrow('event log write failed');
    expect(store.list()).toEqual([]);
    expect(db.prepare('SELECT count(*) AS n FROM outbox').get()).toEqual({ n: 0 });

    store.apply([ev({ state: 'raised' })], catalog, services);
    expect(db.prepare('SELECT * FROM outbox').all()).toEqual([{ ticket_id: '1', seq: 1 }]);
    store.stop();
    // The store does not close a database it was given.
    expect(db.open).toBe(true);
    db.close();
  });
});


describe('TicketStore.reconcile', () => {
  it('opens tickets for raised alerts without one and closes tickets whose alert is gone', () => {
    const transitions: TicketTransition[] = [];
    const store = open({ onTransition: (t) => transitions.push(t) });
    store.apply([ev({ state: 'raised' }), ev({ state: 'raised', deviceId: 'bin-2', district: 'west' })], catalog, services);
    transitions.length = 0;
    const active: ActiveAlert[] = [
      { deviceId: 'bin-2', rule: 'waste.collect', since: T0, value: 0.9, flapping: false }, // has its ticket
      { deviceId: 'bin-1', rule: 'device.battery', since: T0 + MIN, value: 0.1, flapping: false }, // lost its ticket
      { deviceId: 'meter-1', rule: 'parking.full', since: T0, value: 0, flapping: false }, // event-only
    ];
    const r = store.reconcile(active, catalog, services, { severityOf: () => 'info' });
    expect(r.closed.map((t) => [t.service_request_id, t.status, t.closed_by])).toEqual([['1', 'closed', 'reconcile']]);
    expect(r.closed[0]!.status_notes).toMatch(/^Closed at start-up: rule waste.collect is no longer raised for bin-1/);
    expect(r.opened).toHaveLength(1);
    expect(r.opened[0]).toMatchObject({
      service_request_id: '3',
      service_code: 'device.battery',
      service_name: 'Replace a sensor battery',
      requested_datetime: '2026-06-01T10:01:00.000Z',
      lat: 52.3731,
      district: 'centrum',
      severity: 'info',
      status_notes: 'Opened at start-up: the rule was raised but had no ticket',
    });
    expect(r.opened[0]!.description).toBe('Replace a sensor battery: rule device.battery raised since 2026-06-01T10:01:00.000Z (value 0.1)');
    expect(transitions.map((t) => [t.ticket.service_request_id, t.transition, t.cause])).toEqual([
      ['1', 'closed', 'reconcile'],
      ['3', 'opened', 'reconcile'],
    ]);
    // Idempotent: a second run changes nothing.
    expect(store.reconcile(active, catalog, services)).toEqual({ opened: [], closed: [], released: 0 });
  });

  it('releases a manual hold whose rule cleared while the service was down', () => {
    const store = open();
    store.apply([ev({ state: 'raised' })], catalog, services);
    store.close('1', 'done', 'api');
    expect(store.reconcile([], catalog, services)).toMatchObject({ released: 1 });
    expect(store.apply([ev({ state: 'raised', at: T0 + 60 * MIN })], catalog, services)[0]!.transition).toBe('opened');
  });
});


describe('with the real rules stage', () => {
  it('files the events the rules emit: a backlog that already cleared opens nothing, a live raise opens one', async () => {
    const store = open();
    const applied: string[] = [];
    const now = Date.now();
    const stage = new RulesStage({
      rulesFile: defaultRulesFile,
      stateFile: ':memory:',
      catalog,
      now: () => now,
      onEvents: (events) => {
        for (const a of store.apply(events, catalog, serviceLookup(stage.services()))) applied.push(`${a.event.state} ${a.event.rule} ${a.transition ?? '-'}`);
      },
      log: silentLogger,
    });
    stage.start();
    // An hour-old stored batch: full, then emptied.
    stage.evaluate([reading(bin, now - 60 * MIN, { fillingLevel: 0.9 }), reading(bin, now - 50 * MIN, { fillingLevel: 0.1 })]);
    expect(applied).toEqual(['raised waste.collect -', 'cleared waste.collect -']);
    stage.evaluate([reading(bin, now, { fillingLevel: 0.95 })]);
    expect(applied.at(-1)).toBe('raised waste.collect opened');
    expect(store.openFor('bin-1', 'waste.collect')).toMatchObject({ service_name: 'Collect a full waste bin', address: 'Dam 1, Amsterdam' });
    await stage.stop();
  });
});
