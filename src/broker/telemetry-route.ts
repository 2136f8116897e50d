/**
 * Device telemetry reaches citypipe in `authorizePublish`, before aedes routes the message. Routing
 * a message nobody subscribed to still costs aedes a packet copy, a match in mqemitter and, at QoS 1,
 * a match and an offline enqueue in the persistence (two promise round trips) per PUBLISH: the
 * largest part of the broker's own time per reading (docs/BENCHMARKS.md, "Where the time goes").
 *
 * Telemetry usually has no subscriber: operators may only subscribe to `city/events/#`, and a device
 * only under its own prefix. So while no subscription that could match a telemetry topic has been
 * authorized, a telemetry PUBLISH is not routed. The first such subscription (a device subscribing to
 * `city/{type}/{id}/#`, or anything in lab mode) turns routing on for good, before aedes adds it:
 * from then on every telemetry message is routed as aedes always does, to live and offline sessions.
 * Retained and QoS 2 messages are always routed (they have effects beyond subscribers).
 */
import type { Aedes, PublishPacket } from 'aedes';

const EVENTS_LEVEL = 'events';
const PATTERN: readonly (string | undefined)[] = ['city', undefined, undefined, 'telemetry'];

/**
 * True when the subscription `filter` could match some `city/{type}/{deviceId}/telemetry` topic
 * other than `city/events/…` (MQTT 3.1.1 §4.7: `+` is one level, `#` the rest and the parent level).
 */
export function filterCouldMatchTelemetry(filter: string): boolean {
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level === '#') return true;
    if (i >= PATTERN.length) return false;
    if (level === '+') continue;
    // Events are not telemetry: a `city/events/…` topic is always routed, so `city/events/#` (what
    // operators subscribe to) never turns routing on.
    if (i === 1 && level === EVENTS_LEVEL) return false;
    const want = PATTERN[i];
    if (want !== undefined && level !== want) return false;
  }
  return levels.length === PATTERN.length;
}

/** A four-level `city/…/…/telemetry` topic outside `city/events/`, checked without allocating. */
export function isTelemetryShape(topic: string): boolean {
  if (!topic.startsWith('city/') || !topic.endsWith('/telemetry') || topic.startsWith('city/events/')) return false;
  const a = topic.indexOf('/', 5);
  return a > 5 && topic.indexOf('/', a + 1) === topic.length - 10 && topic.length - 10 > a + 1;
}

type Publish = (packet: PublishPacket, client: unknown, done?: (err?: Error | null) => void) => void;

export class TelemetryRouting {
  /** A subscription that could match telemetry was authorized: telemetry is routed from now on. */
  private routing = false;
  private readonly onRoutingOn: (filter: string) => void;
  /** Telemetry messages not routed (nobody could have received them). */
  skipped = 0;

  constructor(onRoutingOn: (filter: string) => void = () => {}) {
    this.onRoutingOn = onRoutingOn;
  }

  get routed(): boolean {
    return this.routing;
  }

  /** Every authorized subscription, before aedes adds it. */
  observe(filter: string): void {
    if (this.routing || !filterCouldMatchTelemetry(filter)) return;
    this.routing = true;
    this.onRoutingOn(filter);
  }

  /** Wraps `aedes.publish` on this broker instance (the prototype is left alone). */
  install(aedes: Aedes): void {
    const target = aedes as unknown as { publish: Publish };
    const route = target.publish.bind(aedes) as Publish;
    target.publish = (packet, client, done) => {
      if (!this.routing && typeof client !== 'function' && packet.qos < 2 && !packet.retain && isTelemetryShape(packet.topic)) {
        this.skipped++;
        done?.(null);
        return;
      }
      route(packet, client, done);
    };
  }
}
