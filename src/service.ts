/**
 * The running service: builds every part from the frozen config and starts them in the order below,
 * stores and sinks before sources, so that nothing is acknowledged before it can be kept; `stop()`
 * goes the other way, so that a graceful stop loses nothing. The parts are wired in wiring/ingest.ts
 * (message → spool → InfluxDB) and wiring/dispatch.ts (stored readings → rules → tickets → delivery).
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.js';
import { influxUrlOf, logStartWarnings } from './config/start-warnings.js';
import type { Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { ServiceStats } from './observability/service-stats.js';
import { DeviceCatalog } from './catalog/catalog.js';
import { prepareAdmission } from './security/admission.js';
import { SecurityMetrics } from './security/metrics.js';
import { BrokerHooks } from './security/broker-hooks.js';
import { makePrivateTree } from './fs/private-files.js';
import { createSink } from './sink/influx/create-sink.js';
import type { PointSink } from './sink/influx/types.js';
import { InfluxReadiness } from './sink/influx/influx-readiness.js';
import { buildApp, listenOn } from './http/app.js';
import type { CitypipeError } from './errors/catalog.js';
import { DispatchWiring } from './wiring/dispatch.js';
import { ClusterDispatch } from './wiring/cluster-dispatch.js';
import { createDispatch, sharedDeadLetters, type Dispatch } from './wiring/dispatch-choice.js';
import type { PgDeadLetters } from './postgres/pg-dead-letters.js';
import { IngestWiring, openIngestStores, type IngestStores } from './wiring/ingest.js';
import { TtsSubscription } from './wiring/tts-subscription.js';
import { ExternalBrokerSource } from './source/external-broker.js';
import { EmbeddedBrokerSource } from './source/embedded-broker.js';
import type { ReadingSource } from './source/source.js';
import type { BackoffOptions } from './delivery/deliverer.js';
import { packageVersion } from './paths.js';
import { ResidentView } from './residents/view.js';
import { residentSource } from './residents/source.js';
import { ResidentMetrics } from './residents/metrics.js';

/** For tests: a fake clock for rules, deadman and plan; short delivery retries. */
export interface ServiceOptions {
  now?: () => number;
  deliveryBackoff?: BackoffOptions;
  /**
   * Accept the demo fleet's published secrets (security/published-secrets.ts). Only `citypipe demo`
   * sets it; everywhere else a device presenting one is refused.
   */
  acceptPublishedSecrets?: boolean;
}

export class CitypipeService {
  readonly config: Config;
  private readonly log: Logger;
  private readonly options: ServiceOptions;
  private catalog: DeviceCatalog | undefined;
  private stopWatch: (() => void) | undefined;
  private metrics: Metrics | undefined;
  private stats: ServiceStats | undefined;
  private stores: IngestStores | undefined;
  private sink: PointSink | undefined;
  private influx: InfluxReadiness | undefined;
  /** The single node's dispatch (SQLite), or with CITYPIPE_DATABASE_URL a worker's share of it. */
  private dispatch: Dispatch | undefined;
  private ingest: IngestWiring | undefined;
  /** The embedded broker, or with CITYPIPE_BROKER_URL this worker's connections to the broker cluster. */
  private source: ReadingSource | undefined;
  private tts: TtsSubscription | undefined;
  /** With CITYPIPE_DATABASE_URL: every worker's dead letters, in PostgreSQL. */
  private sharedDeadLetters: PgDeadLetters | undefined;
  private app: FastifyInstance | undefined;
  private stopping: Promise<void> | undefined;

  constructor(config: Config, log: Logger, options: ServiceOptions = {}) {
    this.config = config;
    this.log = log;
    this.options = options;
  }

  /** Rules, tickets, events and the collection plan; undefined before start(). */
  get dispatcher(): DispatchWiring | undefined {
    return this.dispatch instanceof DispatchWiring ? this.dispatch : undefined;
  }

  /** Dispatch with its state in PostgreSQL (CITYPIPE_DATABASE_URL); undefined on a single node. */
  get clusterDispatcher(): ClusterDispatch | undefined {
    return this.dispatch instanceof ClusterDispatch ? this.dispatch : undefined;
  }

  /** The embedded broker's MQTT port; 0 before start and for a worker of a broker cluster. */
  get mqttPort(): number {
    return this.source instanceof EmbeddedBrokerSource ? this.source.broker.port : 0;
  }

  /** The MQTT-over-TLS port, 0 without a TLS listener. */
  get mqttTlsPort(): number {
    return this.source instanceof EmbeddedBrokerSource ? this.source.broker.tlsPort : 0;
  }

  get httpPort(): number {
    const addr = this.app?.server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async start(): Promise<void> {
    const { config, log, options } = this;
    const influxUrl = influxUrlOf(config);
    logStartWarnings(config, log);

    // 1. Everything that can refuse to start does so before anything is opened: the catalog, the
    //    accounts that clash with it, the TLS files.
    const catalog = await DeviceCatalog.load(config.devicesDir);
    this.catalog = catalog;
    const catalogNow = () => this.catalog!;
    log.info({ devices: catalog.size, dir: config.devicesDir }, 'device catalog loaded');
    const { authenticator, tls } = await prepareAdmission(config.mqtt, catalogNow, options.acceptPublishedSecrets);

    // 2. Stores. Payloads, dead letters, ticket locations: readable by citypipe's user only (also an
    //    older data folder). The spool, where an accepted reading lives until InfluxDB has it,
    //    recovers what the last run left before anything reads it.
    makePrivateTree(config.dataDir);
    // Gauges and stats read the parts below when asked, and 0 until a part runs.
    const metrics = new Metrics({
      pending: () => this.stats?.pending() ?? 0,
      connections: () => this.source?.connections ?? 0,
      dispatch: () => (this.dispatch?.running ? this.dispatch : undefined),
    });
    this.metrics = metrics;
    const stores = await openIngestStores(config, log, metrics);
    this.stores = stores;
    const { deadLetters, spool, firstLiveSeq } = stores;
    const connections = () => ({ devices: this.source?.connectedDevices ?? 0, mqtt: this.source?.connections ?? 0 });
    const counted = { countByReason: () => (this.sharedDeadLetters ?? deadLetters).countByReason() };
    const stats = new ServiceStats({ metrics, spool, deadLetters: counted, connections, doneInOpenRecords: () => this.ingest?.drain.doneInOpenRecords ?? 0 });
    this.stats = stats;

    // 3. Sinks, before any source: InfluxDB (one that does not answer only delays writes), then
    //    dispatch, which acts on readings once they are stored, whatever InfluxDB does.
    const sink = createSink(config.influx, log);
    this.sink = sink;
    const influx = new InfluxReadiness({ sink, url: influxUrl, log, onBack: () => this.ingest?.writer.retryNow() });
    this.influx = influx;
    await influx.check(true);
    await sink.prepare().catch((err: unknown) => log.warn({ err, code: (err as CitypipeError).code }, 'could not prepare the InfluxDB database; writes will retry'));
    const publish = (topic: string, payload: string) => this.source?.publish(topic, payload) ?? Promise.resolve();
    const dispatch = createDispatch({ config, log, metrics, catalog: catalogNow, publish, writeLines: (lines) => sink.write(lines), selfStats: () => stats.snapshot(), now: options.now, deliveryBackoff: options.deliveryBackoff });
    await dispatch.start();
    this.dispatch = dispatch;
    const shared = (this.sharedDeadLetters = sharedDeadLetters(dispatch, deadLetters, config.workerId, log));
    // What residents see is read from the same stores as the API, and made again after stored readings.
    const dispatchApi = dispatch.httpDeps();
    const openData = config.residents;
    const residents = openData.enabled ? new ResidentView({ source: residentSource(dispatchApi), cityName: openData.cityName, log: log.child({ stage: 'residents' }), now: options.now }) : undefined;
    if (residents) dispatch.tap.addConsumer(() => residents.touch());

    // 4. The write path: spool → InfluxDB (recovered records first), ready before a message arrives.
    const ingest = new IngestWiring({ config, log, catalog: catalogNow, spool, firstLiveSeq, sink, deadLetters, metrics, stats, dispatch, onWriteOk: () => influx.answered() });
    ingest.start();
    this.ingest = ingest;

    // 5. The source: devices may publish from here on, to the embedded broker or, as one worker of
    //    many, through the broker cluster. Catalog changes apply to live sessions.
    const securityMetrics = new SecurityMetrics(metrics.registry);
    const { host, port, open, limits } = config.mqtt;
    const take = ingest.onTelemetry;
    const source: ReadingSource = config.externalBroker
      ? new ExternalBrokerSource({ broker: config.externalBroker, take, log: log.child({ stage: 'broker-cluster' }) })
      : new EmbeddedBrokerSource({ host, port, open, limits, tls, log: log.child({ stage: 'broker' }), events: securityMetrics.broker, authenticate: (req) => authenticator.authenticate(req), onTelemetry: take });
    this.source = source;
    await source.start();
    if (source instanceof ExternalBrokerSource) log.info({ workerId: config.workerId, shareGroup: config.externalBroker?.shareGroup }, `consuming as ${source.description}; no embedded broker`);
    if (config.ttsMqtt) (this.tts = new TtsSubscription({ ...config.ttsMqtt, take: ingest.onTelemetry, log: log.child({ stage: 'tts-mqtt' }) })).start();
    this.stopWatch = catalog.watch((next) => {
      this.catalog = next;
      dispatch.catalogChanged();
      residents?.touch();
      // A revoked, removed or re-keyed device loses its session now, not at its next reconnect.
      source.revalidate((identity) => authenticator.stillValid(identity));
    }, log.child({ stage: 'catalog' }));

    // 6. HTTP last: /readyz answers ready only once everything above runs. A broker cluster asks the
    //    same authenticator and ACL through it (with CITYPIPE_BROKER_AUTH_TOKEN).
    const brokerHooks = new BrokerHooks({ authenticator, connectRatePerS: limits.ipConnectRate, log: log.child({ stage: 'broker-hooks' }), events: securityMetrics.broker });
    const app = buildApp({
      log,
      metricsText: () => metrics.text(),
      notReadyReasons: () => this.notReadyReasons(),
      stats: () => stats.now(),
      deadLettersByReason: () => stats.deadLettersByReason(),
      deadLetters: shared ?? deadLetters,
      replayDeadLetters: (q) => ingest.replay(q, shared),
      security: { token: config.http.token, uplinkToken: config.http.uplinkToken, brokerAuthToken: config.http.brokerAuthToken, ratePerS: config.http.ratePerS, residentsRatePerS: openData.ratePerS, trustProxy: config.http.trustProxy, events: securityMetrics.http },
      dispatch: dispatchApi,
      residents: residents ? { view: residents, events: new ResidentMetrics(metrics.registry, () => residents.snapshotAt) } : undefined,
      uplinks: { take: (msg) => ingest.takeUplink(msg) },
      brokerAuth: { hooks: brokerHooks },
      version: packageVersion,
    });
    this.app = app;
    await listenOn(app, config.http.host, config.http.port);
    influx.start();
    log.info({ mqttPort: this.mqttPort, mqttTlsPort: this.mqttTlsPort || undefined, httpPort: this.httpPort, influx: influxUrl, api: config.influx.api }, 'citypipe started');
  }

  /** Stops taking messages, then writes everything accepted (up to CITYPIPE_STOP_TIMEOUT_MS); safe to call again. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.influx?.stop();
    this.stopWatch?.();
    const deadline = Date.now() + this.config.stopTimeoutMs;
    // The sources first: no message is accepted that could not be written.
    await this.tts?.stop();
    await this.source?.stop(deadline);
    // Everything accepted is in the spool: hand it all to the writer, then let the writer finish.
    await this.ingest?.stop(deadline);
    // Dispatch after the drain: the rules see every stored reading, device state is saved.
    await this.sharedDeadLetters?.stop();
    await this.dispatch?.stop();
    await this.sink?.close();
    await this.stores?.close();
    // HTTP and metrics last: /readyz and /metrics answer while the rest stops.
    await this.app?.close();
    this.metrics?.stop();
    this.log.info('citypipe stopped');
  }

  private notReadyReasons(): string[] {
    const reasons: string[] = [];
    const source = this.source ? this.source.problem : 'MQTT broker is not listening';
    if (source) reasons.push(source);
    if (this.influx?.problem) reasons.push(this.influx.problem);
    const spool = this.stores?.spool;
    if (spool?.isFull()) reasons.push(`${spool.fullReason ?? 'spool full'}: publishes are refused until InfluxDB catches up`);
    return reasons;
  }
}
