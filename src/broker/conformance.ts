/**
 * Where aedes 1.2 departs from MQTT 3.1.1, and what citypipe does about it. Each fix works through
 * an aedes hook or a documented persistence method on one broker instance; none patches a
 * prototype. test/lab-mode.e2e.test.ts fails if aedes changes underneath them.
 *
 * 1. Overlapping subscriptions (moscajs/aedes#1074). aedes delivers a message once per client, at
 *    the QoS of whichever matching subscription its matcher calls first, where the message must
 *    arrive at the highest QoS of all of them [MQTT-3.3.5-1]. And only an exact-topic subscription
 *    caps the QoS: a QoS 2 message reaches a QoS 1 wildcard subscription at QoS 2 [MQTT-3.8.4-6].
 *    Fix: the client's two delivery functions are replaced, before it can subscribe, by one that
 *    works out the QoS from all its subscriptions.
 * 2. DUP on re-delivery (moscajs/aedes#601). A PUBLISH sent again on reconnect goes out with DUP 0;
 *    it must be 1 [MQTT-3.3.1-1]. Fix: the persistence remembers, per persistent session, which
 *    packet ids were handed to the socket and not acknowledged, and marks those DUP when it
 *    streams them out again. A message queued while the client was away keeps DUP 0.
 */
import { Readable } from 'node:stream';
import type { Aedes, Client } from 'aedes';

/** The parts of an aedes client this module relies on (instance fields set in its constructor). */
interface ClientInternals {
  readonly id: string;
  readonly clean: boolean;
  readonly subscriptions: Readonly<Record<string, { readonly qos: number } | undefined>>;
  deliver0: Deliver;
  deliverQoS: Deliver;
}

interface Deliverable {
  qos: number;
  topic: string;
}

type Deliver = (packet: Deliverable, cb: () => void) => void;

interface OutgoingPacket {
  cmd?: string;
  messageId?: number;
  dup?: boolean;
}

interface Persistence {
  outgoingUpdate(client: { id: string }, packet: OutgoingPacket): Promise<unknown>;
  outgoingClearMessageId(client: { id: string }, packet: OutgoingPacket): Promise<unknown>;
  outgoingStream(client: { id: string }): Readable;
}

/**
 * True when `topic` matches the subscription `filter`, MQTT 3.1.1 §4.7: `+` is one level, `#` the
 * rest (and the parent level), and a filter starting with a wildcard never matches a `$` topic.
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === 36 /* $ */ && (filter.charCodeAt(0) === 43 /* + */ || filter.charCodeAt(0) === 35) /* # */) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** The QoS a message arrives at: its own, capped by the highest of the matching subscriptions. */
export function deliveryQos(subscriptions: ClientInternals['subscriptions'], topic: string, published: number): number {
  let best = -1;
  for (const filter in subscriptions) {
    const sub = subscriptions[filter];
    if (sub !== undefined && sub.qos > best && topicMatches(filter, topic)) best = sub.qos;
  }
  // No match left (the subscription went away meanwhile): what aedes was about to do.
  return best < 0 ? published : Math.min(published, best);
}

/** The fixes for one broker instance. */
export class DeliveryConformance {
  /** Per persistent-session client id: packet ids handed to the socket and not yet acknowledged. */
  private readonly inFlight = new Map<string, Set<number>>();

  /** Wraps the broker's persistence; call once, right after the broker is created. */
  install(aedes: Aedes): void {
    const persistence = (aedes as unknown as { persistence: Persistence }).persistence;
    const update = persistence.outgoingUpdate.bind(persistence);
    const clear = persistence.outgoingClearMessageId.bind(persistence);
    const stream = persistence.outgoingStream.bind(persistence);
    const inFlight = this.inFlight;

    // aedes calls outgoingUpdate for a persistent session right before it writes a PUBLISH or PUBREL.
    persistence.outgoingUpdate = (client, packet) => {
      if (packet.messageId !== undefined) {
        let ids = inFlight.get(client.id);
        if (ids === undefined) inFlight.set(client.id, (ids = new Set()));
        ids.add(packet.messageId);
      }
      return update(client, packet);
    };
    persistence.outgoingClearMessageId = (client, packet) => {
      if (packet.messageId !== undefined) inFlight.get(client.id)?.delete(packet.messageId);
      return clear(client, packet);
    };
    persistence.outgoingStream = (client) => {
      const ids = inFlight.get(client.id);
      const source = stream(client);
      if (ids === undefined || ids.size === 0) return source;
      return Readable.from(
        (async function* markResent() {
          for await (const packet of source as AsyncIterable<OutgoingPacket>) {
            const resent = (packet.cmd === undefined || packet.cmd === 'publish') && packet.messageId !== undefined && ids.has(packet.messageId);
            // A copy: the stored packet stays as it was.
            yield resent ? Object.assign(Object.create(Object.getPrototypeOf(packet) as object) as OutgoingPacket, packet, { dup: true }) : packet;
          }
        })(),
      );
    };
  }

  /**
   * Prepares one client; call from preConnect, before aedes restores or adds any subscription of
   * it (those capture the delivery functions).
   */
  attach(client: Client, clean: boolean, clientId: string): void {
    // A clean session starts from nothing: no packet of an earlier session will be re-sent.
    if (clean) this.inFlight.delete(clientId);
    const c = client as unknown as ClientInternals;
    const deliver0 = c.deliver0;
    const deliverQoS = c.deliverQoS;
    if (typeof deliver0 !== 'function' || typeof deliverQoS !== 'function') return;
    const deliver: Deliver = (packet, cb) => {
      const qos = deliveryQos(c.subscriptions, packet.topic, packet.qos);
      const out = qos === packet.qos ? packet : Object.assign(Object.create(Object.getPrototypeOf(packet) as object) as Deliverable, packet, { qos });
      // aedes delivers a message once per client (deduplicated by broker counter), so whichever
      // matching subscription calls first, the QoS is the same.
      if (qos === 0) deliver0(out, cb);
      else deliverQoS(out, cb);
    };
    c.deliver0 = deliver;
    c.deliverQoS = deliver;
  }
}
