/**
 * A load-generator process of the bench. It runs apart from the broker under test so that its CPU is
 * not counted as the broker's, and is steered by the harness over stdin/stdout (one JSON object per
 * line, see generator-protocol.ts). It exits when stdin closes (the harness is gone) or after the
 * lifetime given as its first argument, whichever comes first: a load loop never outlives its run.
 */
import net from 'node:net';
import { createInterface } from 'node:readline';
import type {
  BenchDevice,
  BurstRequest,
  BurstResult,
  ConnectRequest,
  ConnectResult,
  Endpoint,
  GeneratorRequest,
  InfluxWriteRequest,
  InfluxWriteResult,
  PublishMaxRequest,
  PublishRateRequest,
  PublishResult,
  RateResult,
  AckDelaySecond,
  ReplyEnvelope,
  RequestEnvelope,
} from './generator-protocol.js';
import { DISCONNECT, PINGREQ, PacketReader, PacketType, encodeConnect, encodePublish, mqttString } from './mqtt-wire.js';
import { batchPayload, lineFor, readingBuilder, type ReadingBuilder } from './payloads.js';

/** Packet id of presence and batch publishes; telemetry ids cycle through 1..PRESENCE_ID-1. */
const PRESENCE_ID = 0xffff;
const BATCH_ID = 0xfffe;
const MAX_TELEMETRY_ID = 0xfffd;
/** Messages one connection may write per scheduling round in max mode, so that all get a turn. */
const PER_ROUND = 32;

interface PhaseHooks {
  onPuback(c: DeviceConn, packetId: number): void;
  onPingresp(c: DeviceConn): void;
  onClose(c: DeviceConn): void;
}

/** One device's connection and counters. */
class DeviceConn {
  readonly device: BenchDevice;
  readonly telemetryTopic: Buffer;
  readonly statusTopic: string;
  readonly build: ReadingBuilder;
  socket: net.Socket | undefined;
  alive = false;
  blocked = false;
  seq = 0;
  lastTs = 0;
  inflight = 0;
  private packetId = 0;

  constructor(device: BenchDevice) {
    this.device = device;
    this.telemetryTopic = mqttString(`city/${device.type}/${device.id}/telemetry`);
    this.statusTopic = `city/${device.type}/${device.id}/status`;
    this.build = readingBuilder(device.type);
  }

  nextPacketId(): number {
    this.packetId = this.packetId >= MAX_TELEMETRY_ID ? 1 : this.packetId + 1;
    return this.packetId;
  }

  /** `ts` strictly increases per device: two readings of one series in one ms would be one point. */
  nextReading(now: number): string {
    const ts = now > this.lastTs ? now : this.lastTs + 1;
    this.lastTs = ts;
    return this.build(ts, this.seq++);
  }

  /**
   * `n` readings as one batch payload (a JSON array), each stamped as {@link nextReading} stamps a
   * single one: consecutive seqs and strictly increasing ts, 1 ms apart, so every reading of the
   * batch is its own point in InfluxDB.
   */
  nextBatch(now: number, n: number): string {
    const parts = new Array<string>(n);
    for (let i = 0; i < n; i++) parts[i] = this.nextReading(now);
    return `[${parts.join(',')}]`;
  }
}

let conns: DeviceConn[] = [];
let phase: PhaseHooks | undefined;
let keepaliveTimer: NodeJS.Timeout | undefined;

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e?.code === 'string' ? e.code : typeof e?.message === 'string' ? e.message.slice(0, 60) : String(err);
}

/**
 * Opens `c`'s connection and resolves after CONNACK (and, with presence, after writing the retained
 * `online`). Rejects on refusal, error, close or timeout; the socket is then destroyed.
 */
function openConnection(c: DeviceConn, endpoint: Endpoint, keepaliveS: number, presence: boolean, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    socket.setNoDelay(true);
    const reader = new PacketReader();
    c.socket = socket;
    c.blocked = false;
    c.inflight = 0;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(Object.assign(new Error('no CONNACK in time'), { code: 'CONNACK_TIMEOUT' })), timeoutMs);
    socket.once('connect', () => {
      const { device } = c;
      socket.write(
        encodeConnect({
          clientId: device.id,
          username: device.id,
          password: device.password,
          keepaliveS,
          clean: true,
          will: presence ? { topic: c.statusTopic, payload: 'offline', qos: 1, retain: true } : undefined,
        }),
      );
    });
    // After a retry `c` has a newer socket; what an older one still reports is no longer about `c`.
    const current = () => c.socket === socket;
    socket.on('data', (chunk: Buffer) => {
      if (!current()) return;
      reader.push(chunk, (type, body) => {
        if (type === PacketType.PUBACK) {
          const id = body.readUInt16BE(0);
          if (id !== PRESENCE_ID) phase?.onPuback(c, id);
        } else if (type === PacketType.PINGRESP) {
          phase?.onPingresp(c);
        } else if (type === PacketType.CONNACK) {
          const rc = body[1] ?? 255;
          if (rc !== 0) return fail(Object.assign(new Error(`CONNACK refused with return code ${rc}`), { code: `CONNACK_${rc}` }));
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          c.alive = true;
          if (presence) socket.write(encodePublish(mqttString(c.statusTopic), 'online', 1, PRESENCE_ID, true));
          resolve();
        }
      });
    });
    socket.on('drain', () => {
      if (current() && c.blocked) {
        c.blocked = false;
        scheduleHook?.();
      }
    });
    socket.on('error', (err) => fail(err));
    socket.on('close', () => {
      fail(Object.assign(new Error('connection closed before CONNACK'), { code: 'CLOSED_BEFORE_CONNACK' }));
      if (!current()) return;
      const wasAlive = c.alive;
      c.alive = false;
      if (wasAlive) phase?.onClose(c);
    });
  });
}

/** Wakes the running publish loop when a blocked socket drains. */
let scheduleHook: (() => void) | undefined;

async function connect(req: ConnectRequest): Promise<ConnectResult> {
  const result: ConnectResult = { connected: 0, failed: 0, errors: {}, startAt: Date.now(), endAt: 0 };
  const fresh = req.devices.map((d) => new DeviceConn(d));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < fresh.length) {
      const c = fresh[next++]!;
      try {
        await openConnection(c, req.endpoint, req.keepaliveS, req.presence, req.timeoutMs);
        result.connected++;
      } catch (err) {
        result.failed++;
        const code = errorCode(err);
        result.errors[code] = (result.errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(req.parallel, fresh.length)) }, worker));
  result.endAt = Date.now();
  conns = conns.concat(fresh);
  setKeepalive(req.keepaliveS);
  return result;
}

/** Pings idle connections at half their keep alive, so that the broker does not drop them. */
function setKeepalive(keepaliveS: number): void {
  clearInterval(keepaliveTimer);
  keepaliveTimer = undefined;
  if (keepaliveS <= 0) return;
  keepaliveTimer = setInterval(() => {
    // During a publish phase the publishes themselves keep the connections alive, and a stray
    // PINGRESP would be mistaken for a barrier's.
    if (phase) return;
    for (const c of conns) if (c.alive && !c.blocked) c.socket!.write(PINGREQ);
  }, (keepaliveS * 1000) / 2);
  keepaliveTimer.unref();
}

/** Shared bookkeeping of the two publish modes. */
class PublishRun {
  readonly result: PublishResult = {
    sent: 0,
    acked: 0,
    firstSendAt: 0,
    lastSendAt: 0,
    lastAckAt: 0,
    barrierAt: 0,
    connectionsLost: 0,
    timedOut: false,
    readingsSent: 0,
    readingsAcked: 0,
  };
  inflightTotal = 0;
  /** With batches at QoS 1: per connection, packet id → readings in that PUBLISH, until its PUBACK. */
  private batchReadings: Map<DeviceConn, Map<number, number>> | undefined;
  /** With ack timing: per connection, packet id → send time; per second of sending, the delays. */
  private sentAt: Map<DeviceConn, Map<number, number>> | undefined;
  private readonly delays = new Map<number, { count: number; sumMs: number; maxMs: number }>();
  private barrierWaiting = new Set<DeviceConn>();
  private barrierDone: (() => void) | undefined;

  constructor(
    readonly qos: 0 | 1,
    readonly active: DeviceConn[],
    private readonly wake: () => void,
  ) {
    for (const c of active) c.inflight = 0;
    phase = {
      onPuback: (c, packetId) => {
        if (this.sentAt) {
          const sent = this.sentAt.get(c)?.get(packetId);
          if (sent !== undefined) {
            this.sentAt.get(c)!.delete(packetId);
            const ms = Date.now() - sent;
            const sec = Math.floor(sent / 1000) * 1000;
            const d = this.delays.get(sec) ?? { count: 0, sumMs: 0, maxMs: 0 };
            d.count++;
            d.sumMs += ms;
            if (ms > d.maxMs) d.maxMs = ms;
            this.delays.set(sec, d);
          }
        }
        if (c.inflight > 0) {
          c.inflight--;
          this.inflightTotal--;
        }
        if (this.batchReadings) {
          const readings = this.batchReadings.get(c)?.get(packetId);
          if (readings !== undefined) {
            this.batchReadings.get(c)!.delete(packetId);
            this.result.readingsAcked += readings;
          }
        } else {
          this.result.readingsAcked++;
        }
        this.result.acked++;
        this.result.lastAckAt = Date.now();
        this.wake();
      },
      onPingresp: (c) => {
        if (this.barrierWaiting.delete(c)) {
          this.result.barrierAt = Date.now();
          if (this.barrierWaiting.size === 0) this.barrierDone?.();
        }
      },
      onClose: (c) => {
        this.result.connectionsLost++;
        this.inflightTotal -= c.inflight;
        c.inflight = 0;
        if (this.barrierWaiting.delete(c) && this.barrierWaiting.size === 0) this.barrierDone?.();
        this.wake();
      },
    };
    scheduleHook = wake;
  }

  /** Times every QoS 1 publish until its PUBACK (`ackDelays()`). */
  timeAcks(): void {
    this.sentAt = new Map(this.active.map((c) => [c, new Map<number, number>()]));
  }

  ackDelays(): AckDelaySecond[] {
    return [...this.delays.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([at, d]) => ({ at, count: d.count, meanMs: Math.round(d.sumMs / d.count), maxMs: d.maxMs }));
  }

  /** Writes `n` readings on `c` in one socket write. */
  send(c: DeviceConn, n: number, now: number): void {
    const packets: Buffer[] = new Array<Buffer>(n);
    const timing = this.qos ? this.sentAt?.get(c) : undefined;
    for (let i = 0; i < n; i++) {
      const id = this.qos ? c.nextPacketId() : 0;
      timing?.set(id, now);
      packets[i] = encodePublish(c.telemetryTopic, c.nextReading(now), this.qos, id);
    }
    this.write(c, packets, n, now);
  }

  /** Sends `packets` (carrying `readings`) in one socket write and counts them. */
  private write(c: DeviceConn, packets: Buffer[], readings: number, now: number): void {
    const n = packets.length;
    if (this.qos) {
      c.inflight += n;
      this.inflightTotal += n;
    }
    const r = this.result;
    if (r.firstSendAt === 0) r.firstSendAt = now;
    r.lastSendAt = now;
    r.sent += n;
    r.readingsSent += readings;
    if (!c.socket!.write(n === 1 ? packets[0]! : Buffer.concat(packets))) c.blocked = true;
  }

  /** Counts the readings of each QoS 1 batch until its PUBACK (`readingsAcked`); before any {@link sendBatches}. */
  countBatchReadings(): void {
    if (this.qos) this.batchReadings = new Map(this.active.map((c) => [c, new Map<number, number>()]));
  }

  /**
   * Writes `n` batch PUBLISHes on `c` in one socket write, each of `batch` readings but the last
   * when fewer than that are `left`. Returns the readings written.
   */
  sendBatches(c: DeviceConn, n: number, now: number, batch: number, left: number): number {
    const packets: Buffer[] = new Array<Buffer>(n);
    const counts = this.qos ? this.batchReadings?.get(c) : undefined;
    let readings = 0;
    for (let i = 0; i < n; i++) {
      const k = Math.min(batch, left - readings);
      const id = this.qos ? c.nextPacketId() : 0;
      counts?.set(id, k);
      packets[i] = encodePublish(c.telemetryTopic, c.nextBatch(now, k), this.qos, id);
      readings += k;
    }
    this.write(c, packets, readings, now);
    return readings;
  }

  /** Resolves once every live connection answered a PINGREQ sent after its last publish, or after `ms`. */
  barrier(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.result.timedOut = true;
        this.result.barrierAt = 0;
        resolve();
      }, ms);
      this.barrierDone = () => {
        clearTimeout(timer);
        resolve();
      };
      for (const c of this.active) {
        if (!c.alive) continue;
        this.barrierWaiting.add(c);
        c.socket!.write(PINGREQ);
      }
      if (this.barrierWaiting.size === 0) this.barrierDone();
    });
  }

  /** Resolves when no QoS 1 message is unacknowledged, or after `ms`. */
  acks(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const deadline = Date.now() + ms;
      const check = (): void => {
        if (this.inflightTotal <= 0) return resolve();
        if (Date.now() >= deadline) {
          this.result.timedOut = true;
          return resolve();
        }
        setTimeout(check, 5);
      };
      check();
    });
  }

  end(): void {
    phase = undefined;
    scheduleHook = undefined;
  }
}

async function publishMax(req: PublishMaxRequest): Promise<PublishResult> {
  const active = conns.filter((c) => c.alive);
  // Readings left per connection (with one reading per PUBLISH, also the PUBLISHes left).
  const remaining = new Map<DeviceConn, number>(active.map((c) => [c, req.perConnection]));
  const batch = req.batch;
  if (batch !== undefined && !(Number.isInteger(batch) && batch >= 1)) throw new Error(`publish-max: batch must be a whole number ≥ 1, got ${batch}`);
  let scheduled = false;
  let finish: (() => void) | undefined;
  const run = new PublishRun(req.qos, active, () => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(pump);
    }
  });
  if (batch !== undefined) run.countBatchReadings();
  const deadline = Date.now() + req.maxMs;
  const pump = (): void => {
    scheduled = false;
    const now = Date.now();
    let left = 0;
    let progressed = false;
    for (const c of active) {
      const rest = remaining.get(c)!;
      if (rest === 0 || !c.alive) continue;
      left += rest;
      if (c.blocked) continue;
      // PUBLISHes this round: the window and PER_ROUND count PUBLISHes, whatever they carry.
      let n = Math.min(batch === undefined ? rest : Math.ceil(rest / batch), PER_ROUND);
      if (req.qos) n = Math.min(n, req.window - c.inflight);
      if (n <= 0) continue;
      if (batch === undefined) {
        run.send(c, n, now);
        remaining.set(c, rest - n);
      } else {
        remaining.set(c, rest - run.sendBatches(c, n, now, batch, rest));
      }
      progressed = true;
    }
    if (left === 0 || now >= deadline) {
      if (now >= deadline && left > 0) run.result.timedOut = true;
      finish?.();
      finish = undefined;
      return;
    }
    // Otherwise a PUBACK or a 'drain' wakes the loop.
    if (progressed && !scheduled) {
      scheduled = true;
      setImmediate(pump);
    }
  };
  // A stalled broker must not hold the phase beyond its deadline.
  const stallTimer = setInterval(() => !scheduled && pump(), 50);
  await new Promise<void>((resolve) => {
    finish = resolve;
    pump();
  });
  clearInterval(stallTimer);
  if (req.qos) await run.acks(req.drainMs);
  if (req.barrier) await run.barrier(req.drainMs);
  run.end();
  return run.result;
}

/** Set by `stop-rate`: the running `publish-rate` with `untilStopped` ends at its next tick. */
let stopRate: (() => void) | undefined;

async function publishRate(req: PublishRateRequest): Promise<RateResult> {
  const active = conns.filter((c) => c.alive);
  if (active.length === 0) throw new Error('publish-rate: no live connections');
  const probes = new Set(req.probeIds);
  const probeSeqs: Record<string, [number, number]> = {};
  for (const c of active) if (probes.has(c.device.id)) probeSeqs[c.device.id] = [c.seq, c.seq - 1];
  const deviceSeqs: Record<string, [number, number]> = {};
  if (req.detailed) for (const c of active) deviceSeqs[c.device.id] = [c.seq, c.seq - 1];
  const run = new PublishRun(req.qos, active, () => undefined);
  if (req.detailed && req.qos) run.timeAcks();
  let stopped = false;
  if (req.untilStopped) stopRate = () => (stopped = true);
  let maxBehind = 0;
  let rr = 0;
  const start = Date.now();
  const pending = new Map<DeviceConn, number>();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = Date.now();
      const elapsed = Math.min(now - start, req.durationMs);
      const due = Math.floor((elapsed * req.ratePerS) / 1000) - run.result.sent;
      let toSend = due;
      // Round robin over the connections; one with a full window is passed over.
      let skipped = 0;
      while (toSend > 0 && skipped < active.length) {
        const c = active[rr++ % active.length]!;
        const queued = pending.get(c) ?? 0;
        if (!c.alive || c.blocked || (req.qos && c.inflight + queued >= req.window)) {
          skipped++;
          continue;
        }
        skipped = 0;
        pending.set(c, queued + 1);
        toSend--;
      }
      for (const [c, n] of pending) run.send(c, n, now);
      pending.clear();
      if (toSend > maxBehind) maxBehind = toSend;
      if (now - start >= req.durationMs || stopped) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, 2);
  });
  stopRate = undefined;
  if (req.qos) await run.acks(req.drainMs);
  run.end();
  for (const c of active) if (probeSeqs[c.device.id]) probeSeqs[c.device.id]![1] = c.seq - 1;
  if (!req.detailed) return { ...run.result, maxBehind, probeSeqs };
  for (const c of active) deviceSeqs[c.device.id]![1] = c.seq - 1;
  return { ...run.result, maxBehind, probeSeqs, deviceSeqs, ...(req.qos ? { ackDelays: run.ackDelays() } : {}) };
}

function drop(): { dropped: number } {
  let dropped = 0;
  for (const c of conns) {
    if (c.socket && !c.socket.destroyed) {
      c.alive = false;
      c.socket.resetAndDestroy();
      dropped++;
    }
  }
  return { dropped };
}

async function burst(req: BurstRequest): Promise<BurstResult> {
  const result: BurstResult = {
    devices: conns.length,
    delivered: 0,
    failed: 0,
    retries: 0,
    errors: {},
    startAt: Date.now(),
    allConnectedAt: 0,
    allAckedAt: 0,
  };
  const deadline = result.startAt + req.timeoutMs;
  const acked = new Map<DeviceConn, () => void>();
  phase = {
    onPuback: (c, id) => {
      if (id === BATCH_ID) acked.get(c)?.();
    },
    onPingresp: () => undefined,
    onClose: (c) => acked.get(c)?.(),
  };
  let connectedDevices = 0;
  const one = async (c: DeviceConn): Promise<void> => {
    let everConnected = false;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        result.failed++;
        return;
      }
      try {
        await openConnection(c, req.endpoint, req.keepaliveS, true, Math.min(left, req.attemptTimeoutMs));
        if (!everConnected) {
          everConnected = true;
          if (++connectedDevices === conns.length) result.allConnectedAt = Date.now();
        }
        const ok = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), Math.max(1, deadline - Date.now()));
          acked.set(c, () => {
            clearTimeout(timer);
            acked.delete(c);
            resolve(c.alive);
          });
          c.socket!.write(encodePublish(c.telemetryTopic, batchPayload(c.device.type, c.seq, req.batch, Date.now()), 1, BATCH_ID));
        });
        if (!ok) throw Object.assign(new Error('batch not acknowledged'), { code: 'NO_PUBACK' });
        c.seq += req.batch;
        result.delivered++;
        result.allAckedAt = Date.now();
        return;
      } catch (err) {
        const code = errorCode(err);
        result.errors[code] = (result.errors[code] ?? 0) + 1;
        c.socket?.destroy();
        const pause = req.retryMinMs + Math.random() * (req.retryMaxMs - req.retryMinMs);
        if (Date.now() + pause >= deadline) {
          result.failed++;
          return;
        }
        result.retries++;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  };
  await Promise.all(conns.map((c) => one(c)));
  phase = undefined;
  setKeepalive(req.keepaliveS);
  return result;
}

async function influxWrite(req: InfluxWriteRequest): Promise<InfluxWriteResult> {
  const result: InfluxWriteResult = { points: 0, requests: 0, failures: 0, firstAt: 0, lastAt: 0 };
  const url = `${req.url}/write?${new URLSearchParams({ db: req.db, precision: 'ms' }).toString()}`;
  const devices = req.devices;
  // Each device's points are 1 ms apart from the start, so every point is its own (series, time).
  const base = Date.now() - 60_000;
  const seqs = new Array<number>(devices.length).fill(0);
  let claimed = 0;
  let rr = 0;
  const deadline = Date.now() + req.maxMs;
  const worker = async (): Promise<void> => {
    while (claimed < req.points && Date.now() < deadline) {
      const n = Math.min(req.batch, req.points - claimed);
      claimed += n;
      const lines: string[] = new Array<string>(n);
      for (let i = 0; i < n; i++) {
        const k = rr++ % devices.length;
        const d = devices[k]!;
        const seq = seqs[k]!++;
        lines[i] = lineFor(d.type, d.id, d.district, seq, base + seq);
      }
      const body = lines.join('\n');
      if (result.firstAt === 0) result.firstAt = Date.now();
      result.requests++;
      try {
        const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain; charset=utf-8' }, signal: AbortSignal.timeout(60_000) });
        const text = await res.text();
        if (res.status !== 204) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
        result.points += n;
        result.lastAt = Date.now();
      } catch (err) {
        result.failures++;
        result.lastError = err instanceof Error ? err.message : String(err);
        if (result.failures > 10) throw new Error(`raw InfluxDB writes keep failing: ${result.lastError}`);
      }
    }
  };
  await Promise.all(Array.from({ length: req.concurrency }, worker));
  return result;
}

async function disconnect(): Promise<{ closed: number }> {
  clearInterval(keepaliveTimer);
  let closed = 0;
  await Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((resolve) => {
          const s = c.socket;
          c.alive = false;
          if (!s || s.destroyed) return resolve();
          closed++;
          const timer = setTimeout(() => {
            s.destroy();
            resolve();
          }, 2000);
          s.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          s.end(DISCONNECT);
        }),
    ),
  );
  conns = [];
  return { closed };
}

function handle(req: GeneratorRequest): Promise<unknown> | unknown {
  switch (req.cmd) {
    case 'connect':
      return connect(req);
    case 'publish-max':
      return publishMax(req);
    case 'publish-rate':
      return publishRate(req);
    case 'drop':
      return drop();
    case 'burst':
      return burst(req);
    case 'influx-write':
      return influxWrite(req);
    case 'disconnect':
      return disconnect();
    case 'stop-rate': {
      const stop = stopRate;
      stop?.();
      return { stopped: stop !== undefined };
    }
  }
}

function reply(r: ReplyEnvelope): void {
  process.stdout.write(JSON.stringify(r) + '\n');
}

const lifetimeMs = Number(process.argv[2]);
if (!(lifetimeMs > 0)) {
  process.stderr.write('load-generator: first argument must be its lifetime in ms\n');
  process.exit(2);
}
setTimeout(() => {
  process.stderr.write(`load-generator: lifetime of ${lifetimeMs} ms is over, exiting\n`);
  process.exit(3);
}, lifetimeMs).unref();

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let env: RequestEnvelope;
  try {
    env = JSON.parse(line) as RequestEnvelope;
  } catch {
    process.stderr.write(`load-generator: not JSON: ${line.slice(0, 200)}\n`);
    return;
  }
  Promise.resolve()
    .then(() => handle(env.request))
    .then(
      (result) => reply({ id: env.id, ok: true, result }),
      (err: unknown) => reply({ id: env.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
});
// The harness is gone: nothing else will ever stop this process's loops.
lines.on('close', () => process.exit(0));
