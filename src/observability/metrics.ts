/**
 * Prometheus metrics and the accounting behind `/api/stats`: every metric citypipe exposes is
 * registered here, ingest and dispatch alike. One registry per service instance (so tests can run
 * several). Hot-path counters are pre-bound children: no label hashing per reading.
 */
import client from 'prom-client';
import { deviceTypeNames } from '../device-types/registry.js';
import type { DeadLetterReason } from '../errors/catalog.js';
import type { BatchOutcome } from '../sink/influx/writer.js';
import { LiveHeap } from './live-heap.js';

type Child = client.Counter.Internal;

/**
 * The accounting identity citypipe keeps: received = written + deadLettered + pending, where
 * `received` includes `recovered` (readings found in the spool at start, accepted before a restart).
 */
export interface IngestStats {
  received: number;
  recovered: number;
  written: number;
  deadLettered: number;
  pending: number;
  refused: number;
}

/** What the gauges read when scraped; each answers 0 (or nothing) before its part runs. */
export interface MetricsGauges {
  pending(): number;
  connections(): number;
  /** Dispatch while it runs, else undefined. */
  dispatch(): DispatchGauges | undefined;
}

export interface DispatchGauges {
  /** Open tickets by Open311 service_code. */
  openTicketsByService(): Readonly<Record<string, number>>;
  /** Ticket messages waiting for delivery, by target. */
  deliveryPending(): Readonly<Record<string, number>>;
}

/** The dispatch side's counters (rule events, ticket transitions, deliveries). */
export interface DispatchCounters {
  countRuleEvent(rule: string, state: string): void;
  countTicketTransition(transition: string): void;
  countDelivery(target: string, outcome: 'delivered' | 'retry' | 'failed'): void;
}

export class Metrics implements DispatchCounters {
  readonly registry = new client.Registry();
  private readonly liveHeap: LiveHeap;
  private readonly received: client.Counter<'type'>;
  private readonly written: client.Counter<'type'>;
  private readonly deadLettered: client.Counter<'type' | 'reason'>;
  private readonly refused: client.Counter<'reason'>;
  private readonly recovered: client.Counter;
  private readonly writeDuration: client.Histogram<'outcome'>;
  private readonly batchSize: client.Histogram;
  private readonly writeErrors: client.Counter<'code'>;
  private readonly ruleEvents: client.Counter<'rule' | 'state'>;
  private readonly ticketTransitions: client.Counter<'transition'>;
  private readonly deliveries: client.Counter<'target' | 'outcome'>;
  private readonly receivedByType = new Map<string, Child>();
  private readonly writtenByType = new Map<string, Child>();
  private readonly deadByKey = new Map<string, Child>();
  private totals = { received: 0, recovered: 0, written: 0, deadLettered: 0, refused: 0 };
  private readonly typeTotals = new Map<string, { received: number; written: number; deadLettered: number }>();

  constructor(gauges: MetricsGauges) {
    const registers = [this.registry];
    this.received = new client.Counter({
      name: 'citypipe_readings_received_total',
      help: 'Readings received from devices (a batch counts each reading; an unreadable message counts one).',
      labelNames: ['type'],
      registers,
    });
    this.written = new client.Counter({
      name: 'citypipe_readings_written_total',
      help: 'Readings InfluxDB accepted.',
      labelNames: ['type'],
      registers,
    });
    this.deadLettered = new client.Counter({
      name: 'citypipe_readings_dead_lettered_total',
      help: 'Readings kept in the dead-letter store instead of being written, by reason.',
      labelNames: ['type', 'reason'],
      registers,
    });
    this.refused = new client.Counter({
      name: 'citypipe_publishes_refused_total',
      help: 'Publishes refused before acceptance (no PUBACK; the device keeps the data and retries), by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.recovered = new client.Counter({
      name: 'citypipe_readings_recovered_total',
      help: 'Readings found in the spool at start (accepted before a restart, not yet written); also counted in received.',
      registers,
    });
    new client.Gauge({
      name: 'citypipe_readings_pending',
      help: 'Readings accepted but not yet written to InfluxDB.',
      registers,
      collect() {
        this.set(gauges.pending());
      },
    });
    new client.Gauge({
      name: 'citypipe_mqtt_connections',
      help: 'Connected MQTT clients.',
      registers,
      collect() {
        this.set(gauges.connections());
      },
    });
    this.writeDuration = new client.Histogram({
      name: 'citypipe_influx_write_duration_seconds',
      help: 'Duration of one InfluxDB write request.',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.batchSize = new client.Histogram({
      name: 'citypipe_influx_batch_lines',
      help: 'Lines per InfluxDB write request.',
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000],
      registers,
    });
    this.writeErrors = new client.Counter({
      name: 'citypipe_influx_write_errors_total',
      help: 'Failed InfluxDB write requests, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.ruleEvents = new client.Counter({ name: 'citypipe_rule_events_total', help: 'Rule events, by rule and state (raised, cleared).', labelNames: ['rule', 'state'], registers });
    this.ticketTransitions = new client.Counter({ name: 'citypipe_ticket_transitions_total', help: 'Ticket transitions (opened, updated, closed).', labelNames: ['transition'], registers });
    this.deliveries = new client.Counter({
      name: 'citypipe_deliveries_total',
      help: 'Webhook and Open311 deliveries, by target and outcome (delivered, retry, failed).',
      labelNames: ['target', 'outcome'],
      registers,
    });
    new client.Gauge({
      name: 'citypipe_tickets_open',
      help: 'Open tickets, by Open311 service_code.',
      labelNames: ['service_code'],
      registers,
      collect() {
        for (const [code, n] of Object.entries(gauges.dispatch()?.openTicketsByService() ?? {})) this.labels(code).set(n);
      },
    });
    new client.Gauge({
      name: 'citypipe_delivery_pending',
      help: 'Ticket messages waiting for delivery, by target.',
      labelNames: ['target'],
      registers,
      collect() {
        for (const [target, n] of Object.entries(gauges.dispatch()?.deliveryPending() ?? {})) this.labels(target).set(n);
      },
    });
    client.collectDefaultMetrics({ register: this.registry, prefix: 'citypipe_' });
    this.liveHeap = new LiveHeap(this.registry);
    for (const t of deviceTypeNames) {
      this.receivedByType.set(t, this.received.labels(t));
      this.writtenByType.set(t, this.written.labels(t));
    }
  }

  /** The network-server path's counts (pipeline/uplink-ingest.ts), read at each scrape. */
  watchUplinks(counts: () => { readonly duplicates: number; readonly ignored: number }): void {
    const registers = [this.registry];
    new client.Counter({
      name: 'citypipe_uplink_duplicates_total',
      help: 'LoRaWAN uplinks a network server delivered again (same deduplication key): acknowledged, stored once.',
      registers,
      collect() {
        this.reset();
        this.inc(counts().duplicates);
      },
    });
    new client.Counter({
      name: 'citypipe_uplink_ignored_total',
      help: 'Network-server messages that carry no reading (joins, acks, status events, device-info packets).',
      registers,
      collect() {
        this.reset();
        this.inc(counts().ignored);
      },
    });
  }

  private typeTotal(type: string | undefined) {
    const t = type !== undefined && this.receivedByType.has(type) ? type : 'unknown';
    let totals = this.typeTotals.get(t);
    if (!totals) this.typeTotals.set(t, (totals = { received: 0, written: 0, deadLettered: 0 }));
    return totals;
  }

  /** Totals since start by device type (`unknown` for messages without a known type). */
  totalsByType(): Record<string, { received: number; written: number; deadLettered: number }> {
    const out: Record<string, { received: number; written: number; deadLettered: number }> = {};
    for (const t of deviceTypeNames) out[t] = { ...this.typeTotal(t) };
    for (const [t, v] of this.typeTotals) out[t] = { ...v };
    return out;
  }

  countReceived(type: string | undefined, n: number): void {
    this.totals.received += n;
    this.typeTotal(type).received += n;
    this.childFor(this.receivedByType, this.received, type).inc(n);
  }

  /** Readings recovered from the spool at start: received before the restart, pending now. */
  countRecovered(n: number): void {
    this.totals.recovered += n;
    this.totals.received += n;
    this.recovered.inc(n);
  }

  countRefused(reason: string): void {
    this.totals.refused++;
    this.refused.labels(reason).inc();
  }

  countWritten(type: string, n: number): void {
    this.totals.written += n;
    this.typeTotal(type).written += n;
    this.childFor(this.writtenByType, this.written, type).inc(n);
  }

  countDeadLettered(type: string | undefined, reason: DeadLetterReason): void {
    this.totals.deadLettered += 1;
    this.typeTotal(type).deadLettered += 1;
    const t = type !== undefined && this.receivedByType.has(type) ? type : 'unknown';
    const key = `${t}\0${reason}`;
    let child = this.deadByKey.get(key);
    if (!child) {
      child = this.deadLettered.labels(t, reason);
      this.deadByKey.set(key, child);
    }
    child.inc();
  }

  /** One InfluxDB write request finished (the writer's `onBatch`). */
  observeWrite({ lines, durationMs, ok, code }: BatchOutcome): void {
    this.writeDuration.labels(ok ? 'ok' : 'error').observe(durationMs / 1000);
    this.batchSize.observe(lines);
    if (!ok) this.writeErrors.labels(code ?? 'unknown').inc();
  }

  countRuleEvent(rule: string, state: string): void {
    this.ruleEvents.labels(rule, state).inc();
  }

  countTicketTransition(transition: string): void {
    this.ticketTransitions.labels(transition).inc();
  }

  countDelivery(target: string, outcome: 'delivered' | 'retry' | 'failed'): void {
    this.deliveries.labels(target, outcome).inc();
  }

  /** The Prometheus text of every metric (`/metrics`). */
  async text(): Promise<{ contentType: string; body: string }> {
    this.liveHeap.sampleIfExposed();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Stops watching garbage collections. */
  stop(): void {
    this.liveHeap.stop();
  }

  /** Totals since start; `pending` comes from the spool. */
  stats(pending: number): IngestStats {
    return { ...this.totals, pending };
  }

  private childFor<L extends string>(cache: Map<string, Child>, counter: client.Counter<L>, type: string | undefined): Child {
    // Unknown topic types must not create unbounded label values (cardinality).
    const t = type !== undefined && cache.has(type) ? type : 'unknown';
    let child = cache.get(t);
    if (!child) {
      child = (counter as client.Counter<string>).labels(t);
      cache.set(t, child);
    }
    return child;
  }
}
