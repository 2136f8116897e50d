/**
 * Bounds on what the broker keeps in memory for its clients. aedes' in-memory persistence keeps
 * retained messages of any size, every message queued for a persistent session that is away, and the
 * whole of every inbound QoS 2 PUBLISH until its PUBREL, all without limit: one device could make the
 * process hold gigabytes. This module wraps that persistence on one broker instance (no prototype is
 * patched) and holds each to a cap, counting what it turns away (README "Security", "Limits"):
 *
 * - **Retained messages.** Never on device telemetry: a reading is stored in InfluxDB and its device's
 *   latest values are at `/api/devices/{id}`, so a retained copy serves no one and only costs memory.
 *   Elsewhere (a device's `…/status`, its other sub-topics, anything in lab mode) up to
 *   `retainedMaxBytes` per message, `retainedPerDevice` topics under one device's `city/{type}/{id}/`,
 *   and `retainedTotalBytes` in all. A message over a cap is still delivered to the subscribers of
 *   the moment; it is just not kept (what EMQX's retainer does with its size and count limits).
 * - **Offline queues.** At most `maxQueued` messages per persistent session and `queuedTotalBytes`
 *   across all of them; beyond, a message is not queued for that session (Mosquitto's
 *   `max_queued_messages` drops the same way). A session that is connected still gets it live.
 * - **Inbound QoS 2.** The reading is in the spool once the PUBLISH is taken, so only its packet id
 *   is kept until PUBREL (not the payload), at most `maxInflightQos2` per client id, across its
 *   reconnects. The ids also make a PUBLISH that is sent again before PUBREL (DUP) a reading taken
 *   once [MQTT-4.3.3-2]: see {@link SessionLimits.claimInbound}.
 */
import type { Aedes } from 'aedes';
import { isTelemetryShape } from './telemetry-route.js';

/** The caps (README "Limits"). */
export interface SessionCaps {
  /** Unfinished inbound QoS 2 flows (PUBLISH taken, PUBREL not yet seen) per client id. */
  readonly maxInflightQos2: number;
  /** Messages queued per persistent session. */
  readonly maxQueued: number;
  /** Payload bytes queued for all persistent sessions together. */
  readonly queuedTotalBytes: number;
  /** Largest retained payload kept. */
  readonly retainedMaxBytes: number;
  /** Retained topics kept under one device's `city/{type}/{id}/`. */
  readonly retainedPerDevice: number;
  /** Retained payload bytes kept in all. */
  readonly retainedTotalBytes: number;
}

/** What a cap turned away; a closed set, used as a metric label. */
export type SessionLimit =
  | 'retained_telemetry'
  | 'retained_too_large'
  | 'retained_per_device'
  | 'retained_total'
  | 'queue_full'
  | 'queue_total'
  | 'inflight_qos2';

/** Must not throw. `clientId`/`topic` are for the log only. */
export type SessionLimitEvents = (limit: SessionLimit, detail: { clientId?: string | undefined; topic?: string | undefined }) => void;

/** The outcome of a QoS 2 PUBLISH's packet id for its client id. */
export type InboundClaim = 'new' | 'duplicate' | 'full';

interface Packet {
  cmd?: string;
  topic: string;
  payload: Buffer | string;
  messageId?: number;
  /** Unique per message on this broker (aedes-packet); queued copies keep it. */
  brokerCounter?: number;
  [k: string]: unknown;
}

/** What is queued for one session, by message, so that every way out of the queue is counted. */
interface Queue {
  /** brokerCounter → payload bytes. */
  readonly entries: Map<number, number>;
  /**
   * packet id → brokerCounter, once the message was handed to the session: its QoS 2 flow replaces
   * the message by a PUBREL that carries only the packet id.
   */
  readonly byMessageId: Map<number, number>;
}

interface ClientRef {
  id: string;
}

interface Persistence {
  storeRetained(packet: Packet): Promise<void>;
  outgoingEnqueue(sub: { clientId: string }, packet: Packet): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: Packet): Promise<void>;
  outgoingUpdate(client: ClientRef, packet: Packet): Promise<unknown>;
  outgoingClearMessageId(client: ClientRef, packet: Packet): Promise<Packet | undefined>;
  incomingStorePacket(client: ClientRef, packet: Packet): Promise<void>;
  incomingDelPacket(client: ClientRef, packet: Packet): Promise<void>;
  cleanIncoming?(client: ClientRef): Promise<void>;
}

const EMPTY = Buffer.alloc(0);

function payloadBytes(p: { payload?: Buffer | string }): number {
  const payload = p.payload;
  return payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
}

/** `city/{type}/{id}` for a topic under a device's prefix, else undefined. */
export function deviceKeyOf(topic: string): string | undefined {
  if (!topic.startsWith('city/') || topic.startsWith('city/events/')) return undefined;
  const a = topic.indexOf('/', 5);
  if (a <= 5) return undefined;
  const b = topic.indexOf('/', a + 1);
  if (b <= a + 1 || b === topic.length - 1) return undefined;
  return topic.slice(0, b);
}

export class SessionLimits {
  private readonly caps: SessionCaps;
  private readonly events: SessionLimitEvents;
  /** Retained topic → payload bytes kept. */
  private readonly retained = new Map<string, number>();
  /** Device key → retained topics kept under it. */
  private readonly retainedByDevice = new Map<string, number>();
  private retainedBytes = 0;
  /** Client id → what is queued for it. */
  private readonly queued = new Map<string, Queue>();
  private queuedBytes = 0;
  /** Client id → packet ids of inbound QoS 2 PUBLISHes taken and not yet released. */
  private readonly inbound = new Map<string, Set<number>>();

  constructor(caps: SessionCaps, events: SessionLimitEvents = () => {}) {
    this.caps = caps;
    this.events = events;
  }

  /** What is held now, for metrics and tests. */
  stats(): { retainedTopics: number; retainedBytes: number; queuedMessages: number; queuedBytes: number; inboundQos2: number } {
    let queuedMessages = 0;
    for (const q of this.queued.values()) queuedMessages += q.entries.size;
    let inboundQos2 = 0;
    for (const ids of this.inbound.values()) inboundQos2 += ids.size;
    return { retainedTopics: this.retained.size, retainedBytes: this.retainedBytes, queuedMessages, queuedBytes: this.queuedBytes, inboundQos2 };
  }

  /**
   * Called for every inbound QoS 2 PUBLISH before its reading is taken: `new` (take it; the id is
   * held until PUBREL), `duplicate` (the same packet id is still unreleased: the PUBLISH was sent
   * again, so the reading was already taken and must not be taken twice) or `full` (too many
   * unfinished flows: refuse it).
   */
  claimInbound(clientId: string, messageId: number): InboundClaim {
    let ids = this.inbound.get(clientId);
    if (ids?.has(messageId)) return 'duplicate';
    if ((ids?.size ?? 0) >= this.caps.maxInflightQos2) {
      this.events('inflight_qos2', { clientId });
      return 'full';
    }
    if (ids === undefined) this.inbound.set(clientId, (ids = new Set()));
    ids.add(messageId);
    return 'new';
  }

  /** Gives a claimed id back: the PUBLISH was refused, so a resend must be taken as new. */
  releaseInbound(clientId: string, messageId: number): void {
    const ids = this.inbound.get(clientId);
    if (ids === undefined) return;
    ids.delete(messageId);
    if (ids.size === 0) this.inbound.delete(clientId);
  }

  /** Wraps the broker's persistence; call once, right after the broker is created. */
  install(aedes: Aedes): void {
    const p = (aedes as unknown as { persistence: Persistence }).persistence;
    const storeRetained = p.storeRetained.bind(p);
    const enqueueCombi = p.outgoingEnqueueCombi.bind(p);
    const update = p.outgoingUpdate.bind(p);
    const clear = p.outgoingClearMessageId.bind(p);
    const storeIncoming = p.incomingStorePacket.bind(p);
    const delIncoming = p.incomingDelPacket.bind(p);
    const cleanIncoming = p.cleanIncoming?.bind(p);

    p.storeRetained = (packet) => (this.admitRetained(packet) ? storeRetained(packet) : Promise.resolve());

    p.outgoingEnqueueCombi = (subs, packet) => {
      const admitted = subs.filter((sub) => this.admitQueued(sub.clientId, packet));
      return admitted.length === 0 ? Promise.resolve() : enqueueCombi(admitted, packet);
    };
    p.outgoingEnqueue = (sub, packet) => p.outgoingEnqueueCombi([sub], packet);

    // A message not queued (over a cap) is still written to a session that is connected: aedes asks
    // for it in the queue first, and would otherwise close the connection ("no such packet").
    p.outgoingUpdate = (client, packet) => {
      if (packet.messageId !== undefined && packet.brokerCounter !== undefined) this.queued.get(client.id)?.byMessageId.set(packet.messageId, packet.brokerCounter);
      return update(client, packet).catch(() => undefined);
    };

    p.outgoingClearMessageId = async (client, packet) => {
      const removed = await clear(client, packet);
      if (removed !== undefined && removed !== null) this.dequeued(client.id, removed);
      return removed;
    };

    // The payload went to the spool (or to the subscribers) when the PUBLISH was taken; PUBREL only
    // needs to know the packet id was seen.
    p.incomingStorePacket = (client, packet) => storeIncoming(client, { ...packet, payload: EMPTY });
    p.incomingDelPacket = async (client, packet) => {
      if (packet.messageId !== undefined) this.releaseInbound(client.id, packet.messageId);
      return delIncoming(client, packet);
    };
    if (cleanIncoming !== undefined) {
      p.cleanIncoming = (client) => {
        this.inbound.delete(client.id);
        return cleanIncoming(client);
      };
    }
  }

  private admitRetained(packet: Packet): boolean {
    const topic = packet.topic;
    const bytes = payloadBytes(packet);
    const had = this.retained.get(topic);
    const device = deviceKeyOf(topic);
    if (bytes === 0) {
      // Clearing a retained message always goes through.
      if (had !== undefined) this.forgetRetained(topic, had, device);
      return true;
    }
    const refuse = (limit: SessionLimit): boolean => {
      this.events(limit, { topic });
      return false;
    };
    if (isTelemetryShape(topic)) return refuse('retained_telemetry');
    if (bytes > this.caps.retainedMaxBytes) return refuse('retained_too_large');
    if (had === undefined && device !== undefined && (this.retainedByDevice.get(device) ?? 0) >= this.caps.retainedPerDevice) return refuse('retained_per_device');
    if (this.retainedBytes - (had ?? 0) + bytes > this.caps.retainedTotalBytes) return refuse('retained_total');
    if (had === undefined) {
      if (device !== undefined) this.retainedByDevice.set(device, (this.retainedByDevice.get(device) ?? 0) + 1);
    }
    this.retained.set(topic, bytes);
    this.retainedBytes += bytes - (had ?? 0);
    return true;
  }

  private forgetRetained(topic: string, bytes: number, device: string | undefined): void {
    this.retained.delete(topic);
    this.retainedBytes -= bytes;
    if (device === undefined) return;
    const n = (this.retainedByDevice.get(device) ?? 1) - 1;
    if (n <= 0) this.retainedByDevice.delete(device);
    else this.retainedByDevice.set(device, n);
  }

  private admitQueued(clientId: string, packet: Packet): boolean {
    const bytes = payloadBytes(packet);
    const queue = this.queued.get(clientId);
    if ((queue?.entries.size ?? 0) >= this.caps.maxQueued) {
      this.events('queue_full', { clientId, topic: packet.topic });
      return false;
    }
    if (this.queuedBytes + bytes > this.caps.queuedTotalBytes) {
      this.events('queue_total', { clientId, topic: packet.topic });
      return false;
    }
    if (queue === undefined) this.queued.set(clientId, { entries: new Map([[packet.brokerCounter ?? -1, bytes]]), byMessageId: new Map() });
    else queue.entries.set(packet.brokerCounter ?? -1, bytes);
    this.queuedBytes += bytes;
    return true;
  }

  private dequeued(clientId: string, removed: Packet): void {
    const queue = this.queued.get(clientId);
    if (queue === undefined) return;
    let counter = removed.brokerCounter;
    if (removed.messageId !== undefined) {
      counter ??= queue.byMessageId.get(removed.messageId);
      queue.byMessageId.delete(removed.messageId);
    }
    if (counter === undefined) return;
    const bytes = queue.entries.get(counter);
    if (bytes === undefined) return;
    queue.entries.delete(counter);
    this.queuedBytes -= bytes;
    if (queue.entries.size === 0) this.queued.delete(clientId);
  }
}
