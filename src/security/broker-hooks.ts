/**
 * The authentication and authorization hooks of a broker cluster (CONTRACT §8). With more than one
 * node, devices connect to the cluster's broker (EMQX), not to citypipe; EMQX asks citypipe over HTTP
 * (http/broker-auth-routes.ts) who a connecting client is and what it may publish or subscribe to, and
 * citypipe answers from the same Authenticator and topic ACL (broker/acl.ts) its embedded broker uses,
 * so a device has the same rights whichever broker it reaches.
 *
 * Answers are EMQX's: `allow`, `deny`, or `ignore` (not citypipe's call: the next source of EMQX's
 * chain, or its `no_match`, decides). Authentication never ignores: a name that is neither a device
 * nor an account is denied, so an authenticator a city adds for clients of its own goes before this
 * one in EMQX's chain. Authorization ignores a name it does not know (such a client was let in by
 * that other authenticator) and denies a device revoked since it connected.
 *
 * What differs from the embedded broker, and why:
 * - A client id only must not be another identity's (see `clientIdProblem`), not the client's own.
 * - The per-address connect rate (CITYPIPE_MQTT_IP_CONNECT_RATE) counts the address EMQX names in the
 *   request (`peerhost`), and a client over it is denied before any secret is hashed.
 * - A client certificate is not taken as an identity: only EMQX saw the TLS handshake.
 */
import { clientIdBelongsTo, identityName, mayPublish, maySubscribe, topicProblem, type Identity } from '../broker/acl.js';
import type { BrokerSecurityEvents } from '../broker/broker.js';
import { BrokerWarnings, truncate } from '../broker/warnings.js';
import { ErrorCodes } from '../errors/catalog.js';
import type { Logger } from '../observability/logger.js';
import type { Authenticator } from './authenticator.js';
import { addressKey, KeyedTokenBuckets } from './token-bucket.js';

/** EMQX's answer values (HTTP authenticator and authorizer, EMQX 5.8 docs "Use HTTP Service"). */
export type HookResult = 'allow' | 'deny' | 'ignore';

/** What EMQX's HTTP authenticator sends (its body template), as strings. */
export interface AuthenticateQuestion {
  readonly clientid: string;
  /** Empty when the client sent none. */
  readonly username: string;
  /** Empty when the client sent none. */
  readonly password: string;
  /** The client's address; without it no per-address rate applies. */
  readonly peerhost?: string | undefined;
}

/** What EMQX's HTTP authorizer sends. */
export interface AuthorizeQuestion {
  readonly clientid?: string | undefined;
  readonly username: string;
  /** The topic of a publish, or the filter of a subscription (EMQX strips `$share/{group}/`). */
  readonly topic: string;
  readonly action: 'publish' | 'subscribe';
}

export interface BrokerHooksOptions {
  readonly authenticator: Authenticator;
  /** New connections per second per client address (CITYPIPE_MQTT_IP_CONNECT_RATE); 0 = no limit. */
  readonly connectRatePerS: number;
  readonly log: Logger;
  /** The broker's security counters, so that refusals count the same with either broker. */
  readonly events?: Pick<BrokerSecurityEvents, 'connectionRefused' | 'denied'> | undefined;
}

/** How often forgotten per-address buckets are dropped (on a request, no timer). */
const SWEEP_EVERY_MS = 10_000;

/** Answers a broker cluster's questions; holds nothing but the per-address buckets. */
export class BrokerHooks {
  private readonly authenticator: Authenticator;
  private readonly buckets: KeyedTokenBuckets;
  private readonly warnings: BrokerWarnings;
  private readonly events: BrokerHooksOptions['events'];
  private lastSweep = performance.now();

  constructor(opts: BrokerHooksOptions) {
    this.authenticator = opts.authenticator;
    this.buckets = new KeyedTokenBuckets(opts.connectRatePerS);
    this.warnings = new BrokerWarnings(opts.log);
    this.events = opts.events;
  }

  /** Never rejects. */
  async authenticate(q: AuthenticateQuestion): Promise<HookResult> {
    const context = { clientId: truncate(q.clientid), deviceId: truncate(q.username), remoteAddress: q.peerhost };
    const refuse = (reason: string, message: string): HookResult => {
      this.events?.connectionRefused(reason);
      this.warnings.warn(`auth:${reason}`, { ...context, code: ErrorCodes.MQTT_AUTH.code }, `broker cluster: connection refused: ${message}`);
      return 'deny';
    };
    if (q.peerhost !== undefined && q.peerhost !== '' && !this.takeConnectToken(q.peerhost)) {
      return refuse('ip_rate', `over CITYPIPE_MQTT_IP_CONNECT_RATE new connections per second from ${q.peerhost}`);
    }
    if (topicProblem(q.clientid) === 'malformed') return refuse('client_id', 'the client id is not valid UTF-8');
    if (q.username === '') return refuse('anonymous', 'no credentials: a device connects with username = its id and its secret');

    let decision;
    try {
      decision = await this.authenticator.authenticate({ username: q.username, password: Buffer.from(q.password, 'utf8'), certificateName: undefined });
    } catch (err) {
      // Authenticator.authenticate never rejects; a broken catalog must still not answer allow.
      this.warnings.warn('auth:internal', { ...context, err, code: ErrorCodes.MQTT_AUTH.code }, 'broker cluster: authentication failed');
      return 'deny';
    }
    switch (decision.outcome) {
      case 'ok': {
        const problem = this.clientIdProblem(decision.identity, q.clientid);
        return problem === undefined ? 'allow' : refuse('client_id', problem);
      }
      case 'anonymous':
        return refuse('anonymous', 'no credentials');
      case 'bad_credentials':
        return refuse('bad_credentials', `bad username or password: ${decision.reason}`);
      case 'not_authorized':
        return refuse('not_authorized', `not authorized: ${decision.reason}`);
    }
  }

  authorize(q: AuthorizeQuestion): HookResult {
    const identity = this.authenticator.identityOf(q.username);
    if (identity === undefined) return 'ignore';
    const problem = topicProblem(q.topic);
    const allowed =
      identity !== 'revoked' && problem === undefined && (q.action === 'publish' ? mayPublish(identity, q.topic) : maySubscribe(identity, q.topic));
    if (allowed) return 'allow';
    this.events?.denied(q.action);
    const why =
      identity === 'revoked'
        ? `device ${q.username} was revoked`
        : problem === 'reserved'
          ? '$SYS topics are the broker\'s'
          : problem === 'malformed'
            ? 'the topic is not valid UTF-8'
            : `${identityName(identity)} may not ${q.action === 'publish' ? 'publish' : 'subscribe'} there`;
    this.warnings.warn(
      `deny:${q.action}`,
      { clientId: truncate(q.clientid), deviceId: truncate(q.username), topic: truncate(q.topic), code: ErrorCodes.MQTT_ACL_DENIED.code },
      `broker cluster: ${q.action} refused: ${why}`,
    );
    return 'deny';
  }

  /**
   * A client id may not be another identity's (its name, or its name and `:…`): what keeps a client
   * from taking over a device's session. The embedded broker asks for more, the client's own name
   * (acl.ts `clientIdBelongsTo`); here that cannot hold, because EMQX gives a client that sent no
   * client id a random one before it asks, and a worker's sessions are named by CITYPIPE_WORKER_ID.
   */
  private clientIdProblem(identity: Identity, clientId: string): string | undefined {
    const name = identityName(identity);
    if (clientIdBelongsTo(identity, clientId)) return undefined;
    const colon = clientId.indexOf(':');
    const owner = colon < 0 ? clientId : clientId.slice(0, colon);
    return this.authenticator.knows(owner) ? `client id ${truncate(clientId)} belongs to ${owner}, not to ${name}` : undefined;
  }

  private takeConnectToken(peerhost: string): boolean {
    const now = performance.now();
    if (now - this.lastSweep > SWEEP_EVERY_MS) {
      this.buckets.sweep(now);
      this.lastSweep = now;
    }
    return this.buckets.take(addressKey(peerhost), now);
  }
}
