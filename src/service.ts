/**
 * The running service: builds every part from the frozen config, starts sinks before sources and
 * stops in reverse so a graceful stop loses nothing.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.js';
import type { Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { DeviceCatalog } from './catalog/catalog.js';
import { DeadLetterStore } from './deadletter/store.js';
import { MqttBroker } from './broker/broker.js';
import { Authenticator } from './security/authenticator.js';
import { SecurityMetrics } from './security/metrics.js';
import { publishedSecrets } from './security/published-secrets.js';
import { makePrivateTree } from './fs/private-files.js';
import { IngestPipeline } from './pipeline/ingest.js';
import { SpoolDrain } from './pipeline/drain.js';
import { encodeOutcome, outcomeSize, weighOutcome, type Outcome } from './ingest/outcome.js';
import { replayDeadLetters, type ReplayResult } from './pipeline/replay.js';
import type { DeadLetterReason } from './errors/catalog.js';
import type { RawMessage } from './ingest/types.js';
import { Spool } from './spool/spool.js';
import { RateLimitedLog } from './observability/rate-limited-log.js';
import { InfluxWriter } from './sink/influx/writer.js';
import { createSink } from './sink/influx/create-sink.js';
import type { PointSink } from './sink/influx/types.js';
import { buildApp } from './http/app.js';
import { CitypipeError, DeadLetterReasons, ErrorCodes } from './errors/catalog.js';
import { DispatchWiring } from './wiring/dispatch.js';
import type { BackoffOptions } from './delivery/deliverer.js';
import { WriteWindow } from './observability/self-stats.js';
import { decodeOutcome } from './ingest/outcome.js';
import { packageVersion } from './paths.js';

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

const READINESS_PING_MS = 5000;
const OUTAGE_PING_MS = 1000;
const DEAD_LETTER_PAYLOAD_MAX = 4096;

export class CitypipeService {
  readonly config: Config;
  private readonly log: Logger;
  private catalog: DeviceCatalog | undefined;
  private stopWatch: (() => void) | undefined;
  private deadLetters: DeadLetterStore | undefined;
  private metrics: Metrics | undefined;
  private sink: PointSink | undefined;
  private writer: InfluxWriter | undefined;
  private spool: Spool | undefined;
  private replay: ((q: { reason?: DeadLetterReason | undefined; limit?: number | undefined }) => Promise<ReplayResult>) | undefined;
  private drain: SpoolDrain | undefined;
  private broker: MqttBroker | undefined;
  private app: FastifyInstance | undefined;
  private influxProblem: string | undefined = 'InfluxDB not checked yet';
  private pingTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  private readonly options: ServiceOptions;
  private dispatch: DispatchWiring | undefined;

  constructor(config: Config, log: Logger, options: ServiceOptions = {}) {
    this.config = config;
    this.log = log;
    this.options = options;
  }

  /** Rules, tickets, events and the collection plan; undefined before start(). */
  get dispatcher(): DispatchWiring | undefined {
    return this.dispatch;
  }

  get mqttPort(): number {
    return this.broker?.port ?? 0;
  }

  /** The MQTT-over-TLS port, 0 without a TLS listener. */
  get mqttTlsPort(): number {
    return this.broker?.tlsPort ?? 0;
  }

  get httpPort(): number {
    const addr = this.app?.server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async start(): Promise<void> {
    const { config, log } = this;
    const influxUrl = config.influx.url;
    if (!influxUrl) {
      throw new CitypipeError(
        ErrorCodes.CONFIG_INVALID,
        'CITYPIPE_INFLUX_URL: not set. Point it at your InfluxDB, e.g. CITYPIPE_INFLUX_URL=http://127.0.0.1:8086 ' +
          '(with CITYPIPE_INFLUX_API=v1 for Debian\'s influxdb 1.6), or run `npx citypipe demo`, which starts a local one.',
      );
    }

    if (config.influx.api === 'v2' && !config.influx.org) {
      log.warn(
        { code: 'CP_WARN_INFLUX_ORG' },
        'CITYPIPE_INFLUX_ORG is empty: InfluxDB 2.x needs it (1.8 and 3.x ignore it); set it to your organisation',
      );
    }
    this.catalog = await DeviceCatalog.load(config.devicesDir);
    log.info({ devices: this.catalog.size, dir: config.devicesDir }, 'device catalog loaded');
    const authenticator = new Authenticator(() => this.catalog!, config.mqtt.accounts, this.options.acceptPublishedSecrets ? new Set() : publishedSecrets());
    const clashes = authenticator.clashes(this.catalog);
    if (clashes.length > 0) {
      throw new CitypipeError(ErrorCodes.CONFIG_INVALID, `CITYPIPE_MQTT_ACCOUNTS: account ${clashes.join(', ')} has the id of a device in the catalog; rename the account`);
    }
    const tlsFiles = config.mqtt.tls && {
      cert: await readFile(config.mqtt.tls.certFile),
      key: await readFile(config.mqtt.tls.keyFile),
      clientCa: config.mqtt.tls.caFile === undefined ? undefined : await readFile(config.mqtt.tls.caFile),
    };

    // Payloads, dead letters, ticket locations: readable by citypipe's user only (also an older data folder).
    makePrivateTree(config.dataDir);
    const metrics = new Metrics({ pending: () => this.pending(), connections: () => this.broker?.connectedClients ?? 0 });
    this.metrics = metrics;
    const securityMetrics = new SecurityMetrics(metrics.registry);

    const deadLetters = new DeadLetterStore({
      file: path.join(config.dataDir, 'dead-letters.db'),
      maxRecords: config.deadLetterMax,
      log: log.child({ stage: 'dead-letters' }),
    });
    deadLetters.start();
    this.deadLetters = deadLetters;

    // The spool is where an accepted reading lives until InfluxDB has it: recover it first.
    const spool = new Spool({ dir: path.join(config.dataDir, 'spool'), maxBytes: config.spool.maxBytes, fsync: config.spool.fsync, weigh: weighOutcome, log });
    const recovery = await spool.start();
    this.spool = spool;
    metrics.countRecovered(recovery.weight);
    if (recovery.records > 0 || recovery.truncatedBytes > 0) {
      log.info({ ...recovery }, `spool: ${recovery.weight} readings from before the last stop will be written first`);
    }
    if (!config.spool.fsync) {
      log.warn({ code: 'CP_WARN_SPOOL_NO_FSYNC' }, 'CITYPIPE_SPOOL_FSYNC=false: a PUBACK no longer means the reading is on disk; a crash can lose acknowledged readings');
    }

    // Sinks before sources: the writer is ready before the broker accepts a single message.
    const sink = createSink(config.influx, log);
    this.sink = sink;
    await this.checkInflux(true);
    try {
      await sink.prepare();
    } catch (err) {
      log.warn({ err, code: (err as CitypipeError).code }, 'could not prepare the InfluxDB database; writes will retry');
    }
    // Rules, tickets and events act on readings once they are stored, whatever InfluxDB does.
    const writes = new WriteWindow();
    let lastWrite: { durationMs: number; lines: number; ok: boolean } | undefined;
    const dispatch = new DispatchWiring({
      config,
      catalog: () => this.catalog!,
      log,
      registry: metrics.registry,
      publish: (topic, payload) => this.broker?.publish(topic, payload, { qos: 1 }) ?? Promise.resolve(),
      writeLines: (lines) => sink.write(lines),
      selfStats: () => {
        const spoolStats = spool.stats();
        return {
          ...metrics.stats(this.pending()),
          spoolBytes: spoolStats.pendingBytes,
          oldestPendingAgeS: oldestAgeS(spoolStats.oldestPendingAt),
          byType: metrics.totalsByType(),
          // Every reason, 0 where none is held: a reason missing from a snapshot has no "before" on the boards.
          deadLettersByReason: { ...Object.fromEntries(DeadLetterReasons.map((r) => [r, 0])), ...deadLetters.countByReason() },
          writes: writes.take(),
          ...(lastWrite ? { lastWrite } : {}),
          connectedDevices: this.broker?.connectedClients ?? 0,
          mqttConnections: this.broker?.connectedClients ?? 0,
        };
      },
      ...(this.options.now ? { now: this.options.now } : {}),
      ...(this.options.deliveryBackoff ? { deliveryBackoff: this.options.deliveryBackoff } : {}),
    });
    dispatch.start();
    this.dispatch = dispatch;
    const tap = dispatch.tap;

    let drain: SpoolDrain | undefined;
    const writer = new InfluxWriter({
      sink,
      batchSize: config.writer.batchSize,
      flushIntervalMs: config.writer.flushIntervalMs,
      retryMaxMs: config.influx.retryMaxMs,
      target: influxUrl,
      log,
      onWritten: (points) => drain!.onWritten(points),
      onRejected: (point, message) => drain!.onRejected(point, message),
      onBatch: ({ lines, durationMs, ok, code }) => {
        metrics.writeDuration.labels(ok ? 'ok' : 'error').observe(durationMs / 1000);
        writes.observe(durationMs, lines, ok);
        lastWrite = { durationMs, lines, ok };
        metrics.batchSize.observe(lines);
        if (!ok) metrics.writeErrors.labels(code ?? 'unknown').inc();
        if (ok) this.influxProblem = undefined;
      },
    });
    // Records from before the last stop go to the rules as the drain reads them: their evaluation
    // may have been cut off by the stop (a second evaluation of a reading changes nothing).
    const firstLiveSeq = recovery.nextSeq;
    drain = new SpoolDrain({
      spool: {
        read: async (max) => {
          const records = await spool.read(max);
          for (const r of records) if (r.seq < firstLiveSeq) tap.recovered(decodeOutcome(r.data));
          return records;
        },
        ack: (seq) => spool.ack(seq),
      },
      writer,
      deadLetters,
      metrics,
      // Device state (last seen, latest reading) is saved before the records it came from are released.
      beforeRelease: () => dispatch.persistDeviceState(),
      log: log.child({ stage: 'drain' }),
      // Enough to keep every write slot busy with full batches (three times as many slots in a
      // backlog) and two more ready, no more: the rest waits on disk.
      maxInFlight: config.writer.batchSize * 8,
    });
    writer.start();
    drain.start();
    this.writer = writer;
    this.drain = drain;

    const catalogRef = () => this.catalog!;
    const ingest = new IngestPipeline({
      catalog: { get: (id) => catalogRef().get(id) },
      validate: {
        maxPayloadBytes: config.ingest.maxPayloadBytes,
        maxBatch: config.ingest.maxBatch,
        maxAgeMs: config.ingest.maxAgeMs,
        maxFutureMs: config.ingest.maxFutureMs,
        maxDeadLetterPayloadBytes: DEAD_LETTER_PAYLOAD_MAX,
      },
    });
    const refusals = new RateLimitedLog(log, 10_000);
    const refuse = (reason: string, err: Error, clientId: string, done: (err?: Error) => void) => {
      metrics.countRefused(reason);
      refusals.warn({ code: (err as CitypipeError).code, clientId }, `publish refused: ${err.message}`);
      done(err);
    };
    /** Stores an outcome durably; `done()` only once it is on disk. */
    const append = (outcome: Outcome, clientId: string, done: (err?: Error) => void): void => {
      spool.append(encodeOutcome(outcome), (err) => {
        if (err) return refuse(spool.isFull() ? 'spool_full' : 'spool_error', err, clientId, done);
        metrics.countReceived(outcome.type || undefined, outcomeSize(outcome));
        tap.stored(outcome);
        done();
      });
    };
    /** Returns the readings the message carried, which count against the client's reading rate. */
    const onTelemetry = (msg: RawMessage, done: (err?: Error) => void): number => {
      // Checked first so that a full spool costs no validation work.
      if (spool.isFull()) {
        refuse('spool_full', new CitypipeError(ErrorCodes.SPOOL_FULL, spool.fullReason ?? 'spool full'), msg.clientId, done);
        return 0;
      }
      const outcome = ingest.decide(msg);
      if (!outcome) {
        done();
        return 0;
      }
      append(outcome, msg.clientId, done);
      return outcomeSize(outcome);
    };
    this.replay = (q) =>
      replayDeadLetters(
        {
          deadLetters,
          decide: (msg, clock) => ingest.decide(msg, clock),
          append: (outcome) => new Promise<void>((resolve, reject) => append(outcome, 'replay', (err) => (err ? reject(err) : resolve()))),
        },
        q,
      );

    if (config.mqtt.open) {
      log.warn(
        { code: 'CP_WARN_MQTT_OPEN', key: config.mqtt.openKey },
        `LAB MODE (${config.mqtt.openKey}=true): the MQTT broker accepts ANONYMOUS clients and applies NO topic ACL and NO client-id binding; ` +
          'anyone who can reach it can publish as any device. For interoperability testing only; limits stay on.' +
          (config.mqtt.openKey === 'CITYPIPE_MQTT_ALLOW_ANONYMOUS' ? ' (CITYPIPE_MQTT_ALLOW_ANONYMOUS is deprecated: use CITYPIPE_MQTT_OPEN.)' : ''),
      );
    }
    this.broker = new MqttBroker({
      host: config.mqtt.host,
      port: config.mqtt.port,
      log: log.child({ stage: 'broker' }),
      tls: config.mqtt.tls && tlsFiles && { host: config.mqtt.host, port: config.mqtt.tls.port, requireClientCert: config.mqtt.tls.requireClientCert, ...tlsFiles },
      open: config.mqtt.open,
      limits: config.mqtt.limits,
      authenticate: (req) => authenticator.authenticate(req),
      events: securityMetrics.broker,
      onTelemetry,
    });
    await this.broker.start();
    this.stopWatch = this.catalog.watch((next) => {
      this.catalog = next;
      this.dispatch?.catalogChanged();
      // A revoked, removed or re-keyed device loses its session now, not at its next reconnect.
      this.broker?.revalidate((identity) => authenticator.stillValid(identity));
    }, log.child({ stage: 'catalog' }));

    const app = buildApp({
      log,
      metricsText: () => metrics.text(),
      notReadyReasons: () => this.notReadyReasons(),
      stats: () => ({
        ...metrics.stats(this.pending()),
        oldestPendingAgeS: oldestAgeS(spool.stats().oldestPendingAt),
        spoolBytes: spool.stats().pendingBytes,
      }),
      deadLettersByReason: () => deadLetters.countByReason(),
      deadLetters,
      replayDeadLetters: (q) => this.replay!(q),
      security: { token: config.http.token, ratePerS: config.http.ratePerS, trustProxy: config.http.trustProxy, events: securityMetrics.http },
      routes: (app) => dispatch.registerRoutes(app),
      version: packageVersion,
    });
    this.app = app;
    try {
      await app.listen({ host: config.http.host, port: config.http.port });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new CitypipeError(
          ErrorCodes.PORT_IN_USE,
          `CITYPIPE_HTTP_PORT: port ${config.http.port} on ${config.http.host} is already in use. Stop what uses it or set CITYPIPE_HTTP_PORT to a free port.`,
          { cause: err },
        );
      }
      throw err;
    }
    // Every READINESS_PING_MS while InfluxDB answers; every second while it does not, so that writes
    // resume within a second of its return rather than at the end of their backoff.
    let lastPing = Date.now();
    this.pingTimer = setInterval(() => {
      if (this.influxProblem === undefined && Date.now() - lastPing < READINESS_PING_MS) return;
      lastPing = Date.now();
      void this.checkInflux(false);
    }, OUTAGE_PING_MS).unref();
    if (!config.http.token) log.info({ code: 'CP_INFO_HTTP_NO_TOKEN' }, 'CITYPIPE_HTTP_TOKEN is not set: HTTP endpoints that change state (dead-letter replay), show device locations or list rule events answer 401');
    log.info({ mqttPort: this.mqttPort, mqttTlsPort: this.mqttTlsPort || undefined, httpPort: this.httpPort, influx: influxUrl, api: config.influx.api }, 'citypipe started');
  }

  /**
   * Stops taking messages, then writes everything accepted (up to CITYPIPE_STOP_TIMEOUT_MS).
   * Safe to call more than once.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const { log } = this;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.stopWatch?.();
    const deadline = Date.now() + this.config.stopTimeoutMs;
    await this.broker?.stop();
    // Everything accepted is in the spool: hand it all to the writer, then let the writer finish.
    await this.drain?.finish(deadline);
    if (this.writer) {
      const left = await this.writer.stop(Math.max(0, deadline - Date.now()));
      if (left > 0) {
        log.warn({ code: 'CP_WARN_STOP_UNWRITTEN', unwritten: left }, `${left} readings not yet written to InfluxDB stay in the spool for the next start`);
      }
    }
    // What the writer finished meanwhile: device state saved, records released, while dispatch runs.
    this.drain?.releaseCompleted();
    await this.dispatch?.stop();
    await this.sink?.close();
    this.deadLetters?.stop();
    await this.spool?.stop();
    await this.app?.close();
    this.metrics?.stop();
    log.info('citypipe stopped');
  }

  /** Readings accepted but not yet written or dead-lettered: the spool's weight less what is done. */
  private pending(): number {
    return (this.spool?.stats().pendingWeight ?? 0) - (this.drain?.doneInOpenRecords ?? 0);
  }

  private notReadyReasons(): string[] {
    const reasons: string[] = [];
    if (!this.broker?.listening) reasons.push('MQTT broker is not listening');
    if (this.influxProblem) reasons.push(this.influxProblem);
    if (this.spool?.isFull()) reasons.push(`${this.spool.fullReason ?? 'spool full'}: publishes are refused until InfluxDB catches up`);
    return reasons;
  }

  private async checkInflux(atStart: boolean): Promise<void> {
    try {
      await this.sink!.ping();
      if (this.influxProblem !== undefined) this.writer?.retryNow();
      this.influxProblem = undefined;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const was = this.influxProblem;
      this.influxProblem = `InfluxDB at ${this.config.influx.url} is not reachable: ${message}`;
      if (atStart || was === undefined) {
        this.log.warn({ code: (err as CitypipeError).code ?? ErrorCodes.INFLUX_UNREACHABLE.code, url: this.config.influx.url }, this.influxProblem);
      }
    }
  }
}

function oldestAgeS(at: number | undefined): number {
  return at === undefined ? 0 : Math.max(0, (Date.now() - at) / 1000);
}
