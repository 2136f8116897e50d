/**
 * Who a connected client is, and which topics it may use (README "Security"). Pure functions of the
 * identity and the topic: the broker asks them once per PUBLISH, SUBSCRIBE and CONNECT.
 *
 * - A device publishes only under `city/{its type}/{its id}/` (its Will included) and subscribes
 *   only there.
 * - An operator or integration account subscribes only under `city/events/` and publishes nothing.
 * - A network-server account (ChirpStack's MQTT integration, CONTRACT §7) publishes only its uplink
 *   events, `application/{applicationId}/device/{devEui}/event/{event}`, and subscribes only to its
 *   downlink commands, `application/…/command/…` (citypipe sends none; ChirpStack subscribes anyway).
 * - A worker account (citypipe's own workers on a broker cluster, CONTRACT §8) subscribes under
 *   `city/` and `application/` (the readings, statuses and uplinks it consumes, through MQTT 5 shared
 *   subscriptions `$share/{group}/…`) and publishes only rule events under `city/events/`.
 * - Its MQTT client id is its name, or its name followed by `:` and anything (`bin-0001:fw2`);
 *   `:` cannot occur in a device id or account name, so no identity can claim another's session.
 *   (A worker's sessions are named by CITYPIPE_WORKER_ID instead: see broker-hooks.ts.)
 */

/** An authenticated client. */
export type Identity =
  | {
      readonly kind: 'device';
      readonly id: string;
      readonly type: string;
      /** How it proved who it is. */
      readonly via: 'password' | 'certificate';
      /**
       * What it was checked against (the stored secret hash for `password`), so that a session can
       * be dropped when the catalog changes that (a rotated secret).
       */
      readonly credential: string;
    }
  | { readonly kind: 'account'; readonly name: string; readonly role: AccountRole };

import type { AccountRole } from '../security/accounts.js';

/** Where rule events are published (CONTRACT §1); the only place operator accounts may subscribe. */
export const EVENTS_PREFIX = 'city/events/';

/** The name a client authenticated as: its device id or account name. */
export function identityName(identity: Identity): string {
  return identity.kind === 'device' ? identity.id : identity.name;
}

/** The topic prefix a device owns: `city/{type}/{id}/`. */
export function devicePrefix(type: string, id: string): string {
  return `city/${type}/${id}/`;
}

/**
 * May this identity publish (or leave a Will) on `topic`? Runs once per PUBLISH: compares in place
 * rather than building the prefix string.
 */
export function mayPublish(identity: Identity, topic: string): boolean {
  if (identity.kind === 'account') {
    if (identity.role === 'worker') return topic.length > EVENTS_PREFIX.length && topic.startsWith(EVENTS_PREFIX);
    return identity.role === 'network-server' && isNetworkServerEvent(topic);
  }
  const { type, id } = identity;
  const typeEnd = 5 + type.length;
  const idEnd = typeEnd + 1 + id.length;
  return (
    topic.length > idEnd + 1 &&
    topic.startsWith('city/') &&
    topic.startsWith(type, 5) &&
    topic.charCodeAt(typeEnd) === 47 /* / */ &&
    topic.startsWith(id, typeEnd + 1) &&
    topic.charCodeAt(idEnd) === 47
  );
}

/**
 * May this identity subscribe to `filter`? A filter that starts with the allowed prefix stays under
 * it whatever wildcards follow, because a wildcard can only stand for levels after the prefix.
 */
export function maySubscribe(identity: Identity, filter: string): boolean {
  if (identity.kind === 'account' && identity.role === 'network-server') return isNetworkServerCommandFilter(filter);
  if (identity.kind === 'account' && identity.role === 'worker') return isWorkerFilter(filter);
  const prefix = identity.kind === 'device' ? devicePrefix(identity.type, identity.id) : EVENTS_PREFIX;
  return filter.length > prefix.length && filter.startsWith(prefix);
}

/** Where a network server publishes uplink events (ChirpStack's default `event_topic`). */
export const NETWORK_SERVER_PREFIX = 'application/';

/** `application/{applicationId}/device/{devEui}/event/{event}`: six levels, none empty, no wildcard. */
export function isNetworkServerEvent(topic: string): boolean {
  if (!topic.startsWith(NETWORK_SERVER_PREFIX)) return false;
  const levels = topic.split('/');
  return levels.length === 6 && levels[2] === 'device' && levels[4] === 'event' && levels.every((l) => l !== '' && l !== '+' && l !== '#');
}

/** `application/+/device/+/command/+` and narrower: the downlink commands ChirpStack subscribes to. */
function isNetworkServerCommandFilter(filter: string): boolean {
  const levels = filter.split('/');
  return levels.length === 6 && levels[0] === 'application' && levels[2] === 'device' && levels[4] === 'command' && levels.every((l) => l !== '' && l !== '#');
}

const WORKER_PREFIXES = ['city/', NETWORK_SERVER_PREFIX] as const;

/**
 * What a worker consumes: filters under `city/` or `application/`, plain or shared. EMQX asks about
 * the filter without its `$share/{group}/` (emqx_channel: "subscribe authz check only cares the real
 * topic filter"); another broker may ask with it, so both forms are accepted.
 */
function isWorkerFilter(filter: string): boolean {
  const real = sharedSubscriptionFilter(filter);
  return real !== undefined && WORKER_PREFIXES.some((p) => real.length > p.length && real.startsWith(p));
}

/**
 * The topic filter of a shared subscription `$share/{group}/{filter}` (MQTT 5 §4.8.2), the filter
 * itself when it is not shared, undefined when it is a malformed shared one (no group, a wildcard in it).
 */
export function sharedSubscriptionFilter(filter: string): string | undefined {
  if (!filter.startsWith('$share/')) return filter;
  const groupEnd = filter.indexOf('/', 7);
  if (groupEnd <= 7) return undefined;
  const group = filter.slice(7, groupEnd);
  if (group.includes('+') || group.includes('#')) return undefined;
  const real = filter.slice(groupEnd + 1);
  return real === '' ? undefined : real;
}

/** Longest client id accepted after the name and `:`. */
const MAX_CLIENT_ID_SUFFIX = 64;

/** Is `clientId` one this identity may use? (A zero-length one is decided by the broker.) */
export function clientIdBelongsTo(identity: Identity, clientId: string): boolean {
  const name = identityName(identity);
  if (clientId === name) return true;
  return (
    clientId.length > name.length + 1 &&
    clientId.length <= name.length + 1 + MAX_CLIENT_ID_SUFFIX &&
    clientId.charCodeAt(name.length) === 58 /* ':' */ &&
    clientId.startsWith(name)
  );
}

/**
 * Topics refused from every client in every mode: `$SYS` is the broker's own, and a topic that
 * holds U+0000, or U+FFFD (what mqtt-packet makes of bytes that are not UTF-8), breaks
 * [MQTT-1.5.3-1] / [MQTT-1.5.3-2]; MQTT 3.1.1 says to close such a connection.
 */
export function topicProblem(topic: string): 'reserved' | 'malformed' | undefined {
  if (topic.startsWith('$SYS')) return 'reserved';
  if (topic.includes('\uFFFD') || topic.includes('\u0000')) return 'malformed';
  return undefined;
}
