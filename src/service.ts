/**
 * The running service: builds every part from the frozen config, starts sinks before sources and
 * stops in reverse so a graceful stop loses nothing.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.js';
import type { Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { DeviceCatalog } from './catalog/catalog.js';
import { DeadLetterStore } from './deadletter/store.js';
import { MqttBroker, type AuthDecision } from './broker/broker.js';
import { IngestPipeline } from './pipeline.js';
import { InfluxWriter } from './sink/influx/writer.js';
import { createSink } from './sink/influx/create-sink.js';
import type { PointSink } from './sink/influx/types.js';
import { buildApp } from './http/app.js';
import { CitypipeError, ErrorCodes } from './errors/catalog.js';

const READINESS_PING_MS = 5000;
const DEAD_LETTER_PAYLOAD_MAX = 4096;

export class CitypipeService {
  readonly config: Config;
  private readonly log: Logger;
  private catalog: DeviceCatalog | undefined;
  private stopWatch: (() => void) | undefined;
  private deadLetters: DeadLetterStore | undefined;
  private sink: PointSink | undefined;
  private writer: InfluxWriter | undefined;
  private broker: MqttBroker | undefined;
  private app: FastifyInstance | undefined;
  private metrics: Metrics | undefined;
  private influxProblem: string | undefined = 'InfluxDB not checked yet';
  private pingTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(config: Config, log: Logger) {
    this.config = config;
    this.log = log;
  }

  get mqttPort(): number {
    return this.broker?.port ?? 0;
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

    const metrics = new Metrics({ pending: () => this.writer?.pending ?? 0, connections: () => this.broker?.connectedClients ?? 0 });
    this.metrics = metrics;

    const deadLetters = new DeadLetterStore({
      file: path.join(config.dataDir, 'dead-letters.db'),
      maxRecords: config.deadLetterMax,
      log: log.child({ stage: 'dead-letters' }),
    });
    deadLetters.start();
    this.deadLetters = deadLetters;

    // Sinks before sources: the writer is ready before the broker accepts a single message.
    const sink = createSink(config.influx, log);
    this.sink = sink;
    await this.checkInflux(true);
    try {
      await sink.prepare();
    } catch (err) {
      log.warn({ err, code: (err as CitypipeError).code }, 'could not prepare the InfluxDB database; writes will retry');
    }
    const writer = new InfluxWriter({
      sink,
      batchSize: config.writer.batchSize,
      flushIntervalMs: config.writer.flushIntervalMs,
      maxPending: config.writer.maxPending,
      target: influxUrl,
      log,
      onWritten: (points) => {
        // Batches mix types; count per type without allocating per point.
        let type = points[0]?.type;
        let run = 0;
        for (const p of points) {
          if (p.type !== type) {
            if (type !== undefined) metrics.countWritten(type, run);
            type = p.type;
            run = 0;
          }
          run++;
        }
        if (type !== undefined && run > 0) metrics.countWritten(type, run);
      },
      onRejected: (point, message) => {
        metrics.countDeadLettered(point.type, 'influx_rejected');
        deadLetters.add({
          reason: 'influx_rejected',
          path: '',
          message: `InfluxDB refused the point: ${message}`,
          topic: point.topic,
          deviceId: point.deviceId,
          type: point.type,
          index: undefined,
          payload: point.line.slice(0, DEAD_LETTER_PAYLOAD_MAX),
          receivedAt: point.receivedAt,
        });
      },
      onBatch: ({ lines, durationMs, ok, code }) => {
        metrics.writeDuration.labels(ok ? 'ok' : 'error').observe(durationMs / 1000);
        metrics.batchSize.observe(lines);
        if (!ok) metrics.writeErrors.labels(code ?? 'unknown').inc();
        if (ok) this.influxProblem = undefined;
      },
    });
    writer.start();
    this.writer = writer;

    const catalogRef = () => this.catalog!;
    const pipeline = new IngestPipeline({
      catalog: { get: (id) => catalogRef().get(id) },
      points: writer,
      deadLetters,
      metrics,
      validate: {
        maxPayloadBytes: config.ingest.maxPayloadBytes,
        maxBatch: config.ingest.maxBatch,
        maxAgeMs: config.ingest.maxAgeMs,
        maxFutureMs: config.ingest.maxFutureMs,
        maxDeadLetterPayloadBytes: DEAD_LETTER_PAYLOAD_MAX,
      },
    });

    this.broker = new MqttBroker({
      host: config.mqtt.host,
      port: config.mqtt.port,
      log: log.child({ stage: 'broker' }),
      allowAnonymous: config.mqtt.allowAnonymous,
      authenticate: (username, password) => this.authenticate(username, password),
      onTelemetry: (msg) => pipeline.accept(msg),
    });
    await this.broker.start();
    this.stopWatch = this.catalog.watch((next) => {
      this.catalog = next;
    }, log.child({ stage: 'catalog' }));

    const app = buildApp({
      log,
      metricsText: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      notReadyReasons: () => this.notReadyReasons(),
      stats: () => ({ ...metrics.stats(writer.pending), deadLettersByReason: deadLetters.countByReason() }),
      deadLetters,
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
    this.pingTimer = setInterval(() => void this.checkInflux(false), READINESS_PING_MS).unref();
    log.info({ mqttPort: this.mqttPort, httpPort: this.httpPort, influx: influxUrl, api: config.influx.api }, 'citypipe started');
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
    await this.broker?.stop();
    if (this.writer) {
      const left = await this.writer.stop(this.config.stopTimeoutMs);
      if (left > 0) {
        log.error({ code: 'CP_ERR_STOP_UNWRITTEN', unwritten: left }, `stopped with ${left} readings not written to InfluxDB`);
      }
    }
    await this.sink?.close();
    this.deadLetters?.stop();
    await this.app?.close();
    log.info('citypipe stopped');
  }

  private async authenticate(username: string | undefined, password: Buffer | undefined): Promise<AuthDecision> {
    if (username === undefined || password === undefined) return 'anonymous';
    // scrypt off the event loop: a reconnect storm must not stall ingest.
    const result = await this.catalog!.authenticateAsync(username, password);
    if (result === 'ok') return 'ok';
    if (result === 'no_secret') return 'anonymous';
    return 'bad_credentials';
  }

  private notReadyReasons(): string[] {
    const reasons: string[] = [];
    if (!this.broker?.listening) reasons.push('MQTT broker is not listening');
    if (this.influxProblem) reasons.push(this.influxProblem);
    if (this.writer?.isFull()) reasons.push(`write buffer full (${this.writer.pending} readings pending): InfluxDB is not keeping up`);
    return reasons;
  }

  private async checkInflux(atStart: boolean): Promise<void> {
    try {
      await this.sink!.ping();
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
