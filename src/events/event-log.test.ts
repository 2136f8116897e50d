import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createDatabase, influxQuery, uniqueDbName } from '../../test/helpers/influx.js';
import { collectEvent, MIN, T0, TestCatalog, device } from '../dispatch/testing/fixtures.js';
import type { RuleEvent } from '../dispatch/types.js';
import { TicketStore, serviceLookup, type AppliedEvent } from '../tickets/ticket-store.js';
import { EventLog, toLine, type LoggedEvent } from './event-log.js';

const catalog = new TestCatalog([device({ id: 'bin-1', type: 'waste-bin' }), device({ id: 'light-1', type: 'streetlight' })]);
const services = serviceLookup([{ serviceCode: 'waste.collect', serviceName: 'Collect a full waste bin', description: undefined, rules: ['waste.collect'], public: true }]);

function ev(over: Partial<RuleEvent> & Pick<RuleEvent, 'state'>): RuleEvent {
  return collectEvent({ message: 'Collect a full waste bin: fillingLevel 0.85 ≥ 0.8', ...over });
}
const bare = (e: RuleEvent): AppliedEvent => ({ event: e, ticketId: undefined, transition: undefined });

let dir: string;
let tickets: TicketStore;
let log: EventLog;

function start(maxRows?: number): void {
  tickets = new TicketStore({ dataDir: dir });
  log = new EventLog({ db: tickets, maxRows });
  tickets.start();
  log.start();
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'citypipe-event-log-'));
  start();
});
afterEach(() => {
  log.stop();
  tickets.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('EventLog', () => {
  it('logs events with the ticket they touched, in the ticket transaction, and keeps them across a restart', () => {
    const record = tickets.db.transaction((events: RuleEvent[]) => log.append(tickets.apply(events, catalog, services)));
    const logged = record([ev({ state: 'raised' }), ev({ state: 'raised', rule: 'light.status', serviceCode: undefined, deviceId: 'light-1', type: 'streetlight', value: 'fault', severity: 'warning', message: 'status fault' })]);
    expect(logged.map((e) => [e.id, e.ticketId, e.transition])).toEqual([
      [1, '1', 'opened'],
      [2, undefined, undefined],
    ]);

    log.stop();
    tickets.stop();
    start();
    expect(log.list()).toEqual<LoggedEvent[]>([
      {
        id: 1,
        at: T0,
        rule: 'waste.collect',
        serviceCode: 'waste.collect',
        deviceId: 'bin-1',
        district: 'centrum',
        type: 'waste-bin',
        severity: 'info',
        state: 'raised',
        value: 0.85,
        message: 'Collect a full waste bin: fillingLevel 0.85 ≥ 0.8',
        late: false,
        flapping: undefined,
        ticketId: '1',
        transition: 'opened',
        influxWritten: false,
      },
      {
        id: 2,
        at: T0,
        rule: 'light.status',
        serviceCode: undefined,
        deviceId: 'light-1',
        district: 'centrum',
        type: 'streetlight',
        severity: 'warning',
        state: 'raised',
        // An enum value stays a string, a number stays a number.
        value: 'fault',
        message: 'status fault',
        late: false,
        flapping: undefined,
        ticketId: undefined,
        transition: undefined,
        influxWritten: false,
      },
    ]);
  });

  it('loses neither the ticket nor the log row alone: a failing append rolls the ticket back', () => {
    const record = tickets.db.transaction((events: RuleEvent[]) => {
      log.append(tickets.apply(events, catalog, services));
      throw new Error('disk full');
    });
    expect(() => record([ev({ state: 'raised' })])).toThrow('disk full');
    expect(tickets.list()).toEqual([]);
    expect(log.list()).toEqual([]);
  });

  it('filters and pages oldest first', () => {
    log.append([
      bare(ev({ state: 'raised', at: T0 })),
      bare(ev({ state: 'cleared', at: T0 + MIN, late: true, flapping: false })),
      bare(ev({ state: 'raised', at: T0 + 2 * MIN, deviceId: 'light-1', type: 'streetlight', rule: 'light.out' })),
      bare(ev({ state: 'raised', at: T0 + 3 * MIN })),
    ]);
    const ids = (q: Parameters<EventLog['list']>[0]) => log.list(q).map((e) => e.id);
    expect(ids({})).toEqual([1, 2, 3, 4]);
    expect(ids({ deviceId: 'bin-1' })).toEqual([1, 2, 4]);
    expect(ids({ rule: 'light.out' })).toEqual([3]);
    expect(ids({ type: 'streetlight' })).toEqual([3]);
    expect(ids({ state: 'cleared' })).toEqual([2]);
    expect(ids({ since: T0 + MIN, until: T0 + 3 * MIN })).toEqual([2, 3]);
    expect(ids({ afterId: 1, limit: 2 })).toEqual([2, 3]);
    expect(ids({ afterId: 3, limit: 2 })).toEqual([4]);
    expect(log.list({ state: 'cleared' })[0]).toMatchObject({ late: true, flapping: false });
    expect(log.lastId()).toBe(4);
  });

  it('hands out what InfluxDB has not got yet until it is marked written', () => {
    log.append([bare(ev({ state: 'raised' })), bare(ev({ state: 'cleared', at: T0 + MIN })), bare(ev({ state: 'raised', at: T0 + 2 * MIN }))]);
    expect(log.unwrittenForInflux(2).map((e) => e.id)).toEqual([1, 2]);
    log.markWritten([1, 2]);
    expect(log.unwrittenForInflux(10).map((e) => e.id)).toEqual([3]);
    expect(log.list({ limit: 1 })[0]!.influxWritten).toBe(true);
  });

  it('keeps at most maxRows, dropping the oldest', () => {
    log.stop();
    tickets.stop();
    start(3);
    for (let i = 0; i < 5; i++) log.append([bare(ev({ state: 'raised', at: T0 + i * MIN }))]);
    expect(log.list().map((e) => e.id)).toEqual([3, 4, 5]);
    expect(log.prune()).toBe(0);
    expect(() => new EventLog({ db: tickets, maxRows: 0 })).toThrow('event log maxRows must be a positive integer, got 0');
  });

  it('scans a bounded window of the log per step, whatever the filter matches, to the end and no further', () => {
    // 12 000 events, one in 4000 from bin-2: a filtered `list` would read the whole table to fill a page.
    const rows = Array.from({ length: 12_000 }, (_, i) => bare(ev({ state: 'raised', at: T0 + i, deviceId: i % 4000 === 3999 ? 'bin-2' : 'bin-1' })));
    for (let i = 0; i < rows.length; i += 3000) log.append(rows.slice(i, i + 3000));
    expect([log.firstId(), log.lastId()]).toEqual([1, 12_000]);

    const steps: { ids: number[]; next: number | undefined }[] = [];
    let cursor: number | undefined = 0;
    while (cursor !== undefined) {
      const step = log.scan({ deviceId: 'bin-2', afterId: cursor, limit: 100 }, 5000);
      steps.push({ ids: step.events.map((e) => e.id), next: step.next });
      cursor = step.next;
    }
    expect(steps).toEqual([
      { ids: [4000], next: 5000 },
      { ids: [8000], next: 10_000 },
      { ids: [12_000], next: undefined },
    ]);

    // A full page ends at its last event; the window never reaches past it.
    expect(log.scan({ afterId: 10, limit: 3 })).toMatchObject({ events: [{ id: 11 }, { id: 12 }, { id: 13 }], next: 13 });
    // At the end of the log: nothing more to look at.
    expect(log.scan({ afterId: 12_000, limit: 3 })).toEqual({ events: [], next: undefined });
  });

  it('starts a scan at the oldest row kept, not at id 0, once old rows are pruned', () => {
    log.stop();
    tickets.stop();
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync(path.join(tmpdir(), 'citypipe-event-log-'));
    start(100);
    log.append(Array.from({ length: 10_000 }, (_, i) => bare(ev({ state: 'raised', at: T0 + i }))));
    expect(log.firstId()).toBe(9901);
    // From Last-Event-ID 0 a window of 10 ids still finds the 100 events kept.
    const step = log.scan({ afterId: 0, limit: 1000 }, 10);
    expect(step.events.map((e) => e.id)).toEqual(Array.from({ length: 10 }, (_, i) => 9901 + i));
    expect(step.next).toBe(9910);
  });

  it('says what to do when used before start', () => {
    const early = new EventLog({ db: tickets });
    expect(() => early.list()).toThrow('event log not started: call start() after the ticket store has started');
  });
});

describe('toLine', () => {
  it('writes the events measurement: five tags, string fields, ms timestamp, escaped', () => {
    expect(toLine({ at: T0, rule: 'waste.collect', deviceId: 'bin-1', district: 'Oud West', severity: 'info', state: 'raised', value: 0.85, message: 'fill "high" C:\\x\nnext', ticketId: '12' })).toBe(
      `events,device_id=bin-1,district=Oud\\ West,rule=waste.collect,severity=info,state=raised message="fill \\"high\\" C:\\\\x next",ticket_id="12",value="0.85" ${T0}`,
    );
    expect(toLine({ at: T0, rule: 'parking.full', deviceId: 'pm-1', district: '', severity: 'warning', state: 'cleared', value: undefined, message: 'ok', ticketId: undefined })).toBe(
      `events,device_id=pm-1,rule=parking.full,severity=warning,state=cleared message="ok" ${T0}`,
    );
  });

  describe('against a real InfluxDB', () => {
    const url = inject('influxUrl');

    it('stores number and enum values in one string field, so neither is refused', async () => {
      const db = uniqueDbName('event_log');
      await createDatabase(url, db);
      const base = { rule: 'x.rule', deviceId: 'dev-1', district: 'Oud West, "Zuid"=1', severity: 'urgent', state: 'raised', ticketId: '7' } as const;
      const lines = [toLine({ ...base, at: T0, value: 61.5, message: 'temperature 61.5 ≥ 60' }), toLine({ ...base, at: T0 + MIN, value: 'burning', message: 'status "burning"' })];
      const res = await fetch(`${url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') });
      expect(res.status, await res.text()).toBe(204);
      expect(await influxQuery(url, db, 'SELECT * FROM events')).toEqual([
        { time: T0, device_id: 'dev-1', district: 'Oud West, "Zuid"=1', rule: 'x.rule', severity: 'urgent', state: 'raised', message: 'temperature 61.5 ≥ 60', ticket_id: '7', value: '61.5' },
        { time: T0 + MIN, device_id: 'dev-1', district: 'Oud West, "Zuid"=1', rule: 'x.rule', severity: 'urgent', state: 'raised', message: 'status "burning"', ticket_id: '7', value: 'burning' },
      ]);
    });
  });
});
