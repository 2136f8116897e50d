/**
 * What the delivery stage takes in and where it sends it. The ticket store owns the ticket type; this
 * is a structural copy of what delivery reads from it, kept loose (optional, nullable) so the store's
 * own type stays assignable to it without delivery importing the tickets stage.
 */

/** A GeoReport v2 service request as the ticket store holds it (CONTRACT §5). */
export interface Open311Request {
  readonly service_request_id: string;
  readonly status: string;
  readonly status_notes?: string | null | undefined;
  readonly service_code: string;
  readonly service_name?: string | null | undefined;
  readonly description?: string | null | undefined;
  readonly requested_datetime?: string | null | undefined;
  readonly updated_datetime?: string | null | undefined;
  readonly lat?: number | null | undefined;
  readonly long?: number | null | undefined;
  readonly address?: string | null | undefined;
  readonly device_id?: string | null | undefined;
  readonly rule?: string | null | undefined;
}

export type TransitionKind = 'opened' | 'updated' | 'closed';

/** One ticket transition, handed to `Outbox.enqueue` inside the ticket store's transaction. */
export interface TicketTransition {
  readonly ticket: Open311Request;
  readonly transition: TransitionKind;
  /** Per ticket 1, 2, 3, …; with the ticket id it is the message's idempotency key. */
  readonly seq: number;
  /** Epoch ms of the transition. */
  readonly at: number;
}

/** POSTs signed JSON events to a URL; gets every transition. */
export interface WebhookTarget {
  readonly kind: 'webhook';
  /** Stable name: delivery rows are keyed by it, so renaming a target orphans its pending rows. Not a secret. */
  readonly name: string;
  /**
   * What logs, metrics and errors call it (default `name`). Never the URL's path: for Slack- or
   * Teams-style receivers the path is the credential.
   */
  readonly label?: string | undefined;
  /** Keys earlier versions stored its rows under; `Outbox.open` moves those rows to `name`. */
  readonly formerNames?: readonly string[] | undefined;
  /** The whole URL, a credential in its own right: only the channel that sends to it reads it. */
  readonly url: string;
  /** HMAC-SHA256 key for `X-Citypipe-Signature`. */
  readonly secret: string;
}

/** Forwards opened tickets to another GeoReport v2 endpoint (`POST {url}/requests.json`). */
export interface Open311Target {
  readonly kind: 'open311';
  readonly name: string;
  /** What logs and metrics call it (default `name`). */
  readonly label?: string | undefined;
  readonly formerNames?: readonly string[] | undefined;
  /** The endpoint base, e.g. `https://city.example/open311/v2`. */
  readonly url: string;
  readonly apiKey: string;
  readonly jurisdictionId?: string | undefined;
}

export type DeliveryTarget = WebhookTarget | Open311Target;

/** What logs, metrics and errors call a target. */
export function targetLabel(target: DeliveryTarget): string {
  return target.label ?? target.name;
}

/** Whether a target takes a transition at all; decided at enqueue time. */
export function targetWants(target: DeliveryTarget, transition: TransitionKind): boolean {
  return target.kind === 'webhook' || transition === 'opened';
}

/** One message for one target, as a channel sends it. */
export interface OutgoingMessage {
  /** `<ticketId>:<seq>`; the same on every attempt and after restarts. */
  readonly key: string;
  readonly ticketId: string;
  readonly seq: number;
  readonly transition: TransitionKind;
  /** Epoch ms of the transition. */
  readonly at: number;
  /** The ticket as it was at the transition. */
  readonly ticket: Open311Request;
  /** 1 for the first attempt. */
  readonly attempt: number;
}

/** The outcome of one attempt. */
export type SendResult =
  | { readonly ok: true; readonly status: number; readonly remoteId?: RemoteRef | undefined }
  | {
      readonly ok: false;
      /** Network error, timeout, 408, 429, 5xx: try again later. Anything else is final. */
      readonly retryable: boolean;
      readonly status?: number | undefined;
      /** What the receiver asked for with Retry-After, in ms. */
      readonly retryAfterMs?: number | undefined;
      readonly error: string;
      /** The start of the answer body, for the log and the failed row. */
      readonly bodyExcerpt?: string | undefined;
    };

/** The receiver's own id for a forwarded request: a GeoReport `service_request_id` or a `token`. */
export interface RemoteRef {
  readonly id: string;
  readonly kind: 'service_request_id' | 'token';
}

/**
 * One kind of receiver. Implementations never throw for a receiver's failure: every outcome is a
 * `SendResult`, and `signal` aborts the attempt (stop or timeout).
 */
export interface DeliveryChannel {
  send(message: OutgoingMessage, signal: AbortSignal): Promise<SendResult>;
}
