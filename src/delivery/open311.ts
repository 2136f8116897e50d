/**
 * The Open311 forward channel: an opened ticket becomes a GeoReport v2 service request at another
 * endpoint (`POST {url}/requests.json`, form-encoded). Updates and closes are not forwarded: GeoReport
 * v2 has no way to post them.
 *
 * GeoReport v2 has no idempotency keys. We send `Idempotency-Key` anyway, but an endpoint that ignores
 * it may create a duplicate request when an answer is lost and the POST repeated.
 */
import { postOnce } from './http-post.js';
import type { DeliveryChannel, Open311Target, OutgoingMessage, RemoteRef, SendResult } from './types.js';

export interface Open311ChannelOptions {
  timeoutMs?: number | undefined;
  now?: (() => number) | undefined;
}

/** The form fields of a forwarded request, in GeoReport v2 names. Exported for tests and docs. */
export function open311Form(target: Open311Target, message: OutgoingMessage): URLSearchParams {
  const t = message.ticket;
  const form = new URLSearchParams();
  form.set('api_key', target.apiKey);
  if (target.jurisdictionId) form.set('jurisdiction_id', target.jurisdictionId);
  form.set('service_code', t.service_code);
  if (typeof t.lat === 'number' && typeof t.long === 'number') {
    form.set('lat', String(t.lat));
    form.set('long', String(t.long));
  }
  if (t.address) form.set('address_string', t.address);
  if (t.description) form.set('description', t.description);
  // GeoReport's own `device_id` names the reporter's phone, so the sensor goes in attributes.
  if (t.device_id) form.set('attribute[device_id]', t.device_id);
  if (t.rule) form.set('attribute[rule]', t.rule);
  form.set('attribute[citypipe_request_id]', t.service_request_id);
  return form;
}

export class Open311Channel implements DeliveryChannel {
  private readonly target: Open311Target;
  private readonly endpoint: string;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(target: Open311Target, opts: Open311ChannelOptions = {}) {
    this.target = target;
    this.endpoint = `${target.url.replace(/\/+$/, '')}/requests.json`;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  async send(message: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const headers = {
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
      'Idempotency-Key': message.key,
    };
    const signals = AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]);
    const { result, body } = await postOnce(this.endpoint, headers, open311Form(this.target, message).toString(), signals, this.now);
    if (!result.ok) return result;
    return { ok: true, status: result.status, remoteId: parseRemoteRef(body ?? '') };
  }
}

/**
 * GeoReport v2 answers `[{ "service_request_id": "…" }]`, or `[{ "token": "…" }]` when the id is
 * assigned later. Some servers drop the array. Anything else: delivered, no remote id.
 */
export function parseRemoteRef(body: string): RemoteRef | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const first: unknown = Array.isArray(parsed) ? parsed[0] : parsed;
  if (typeof first !== 'object' || first === null) return undefined;
  const rec = first as Record<string, unknown>;
  const id = rec['service_request_id'];
  if ((typeof id === 'string' && id !== '') || typeof id === 'number') return { id: String(id), kind: 'service_request_id' };
  const token = rec['token'];
  if ((typeof token === 'string' && token !== '') || typeof token === 'number') return { id: String(token), kind: 'token' };
  return undefined;
}
