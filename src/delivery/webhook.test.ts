import { afterEach, describe, expect, it } from 'vitest';
import { ticket } from './testing/fixtures.js';
import { TestReceiver } from './testing/receiver.js';
import type { OutgoingMessage } from './types.js';
import { signPayload, verifySignature, WebhookChannel, type WebhookPayload } from './webhook.js';

const SECRET = 'a-webhook-secret-of-some-length';

describe('signPayload / verifySignature', () => {
  const body = '{"id":"T-1:1"}';
  const now = 1_764_000_000_000;
  const ts = String(now / 1000);

  it('accepts its own signature and rejects a changed body, timestamp or secret', () => {
    const sig = signPayload(SECRET, ts, body);
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(SECRET, sig, ts, body, 300, now)).toBe(true);
    expect(verifySignature(SECRET, sig, ts, Buffer.from(body), 300, now)).toBe(true);
    expect(verifySignature(SECRET, sig, ts, body.replace('1:1', '1:2'), 300, now)).toBe(false);
    expect(verifySignature(SECRET, sig, String(now / 1000 + 1), body, 300, now)).toBe(false);
    expect(verifySignature('another-secret-of-some-length', sig, ts, body, 300, now)).toBe(false);
  });

  it('rejects a timestamp outside the tolerance, and missing or malformed headers', () => {
    const old = String(now / 1000 - 301);
    expect(verifySignature(SECRET, signPayload(SECRET, old, body), old, body, 300, now)).toBe(false);
    expect(verifySignature(SECRET, undefined, ts, body, 300, now)).toBe(false);
    expect(verifySignature(SECRET, signPayload(SECRET, ts, body), undefined, body, 300, now)).toBe(false);
    expect(verifySignature(SECRET, 'sha256=00', ts, body, 300, now)).toBe(false);
    expect(verifySignature(SECRET, signPayload(SECRET, ts, body), `${ts}.5`, body, 300, now)).toBe(false);
  });

  it('accepts any one of several signatures (secret rotation)', () => {
    const header = `${signPayload('the-old-secret-of-some-length', ts, body)}, ${signPayload(SECRET, ts, body)}`;
    expect(verifySignature(SECRET, header, ts, body, 300, now)).toBe(true);
  });
});

describe('WebhookChannel at a real receiver', () => {
  let receiver: TestReceiver | undefined;
  afterEach(async () => {
    await receiver?.down();
  });

  it('POSTs the JSON payload with headers a receiver can verify', async () => {
    receiver = await new TestReceiver().up();
    const message: OutgoingMessage = { key: 'T-7:2', ticketId: 'T-7', seq: 2, transition: 'updated', at: Date.parse('2026-11-28T10:05:00.000Z'), ticket: ticket('T-7'), attempt: 1 };
    const result = await new WebhookChannel({ kind: 'webhook', name: 'w', url: `${receiver.url}/hooks/citypipe`, secret: SECRET }).send(message, new AbortController().signal);
    expect(result).toEqual({ ok: true, status: 204 });

    const [req] = receiver.requests;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/hooks/citypipe');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers['idempotency-key']).toBe('T-7:2');
    expect(req?.headers['x-citypipe-event']).toBe('ticket.updated');
    const verified = verifySignature(SECRET, req?.headers['x-citypipe-signature'] as string, req?.headers['x-citypipe-timestamp'] as string, req?.body ?? '', 300);
    expect(verified).toBe(true);
    expect(verifySignature('not-the-secret-at-all', req?.headers['x-citypipe-signature'] as string, req?.headers['x-citypipe-timestamp'] as string, req?.body ?? '', 300)).toBe(false);
    const payload = JSON.parse(req?.body ?? '') as WebhookPayload;
    expect(payload).toEqual({ id: 'T-7:2', type: 'ticket.updated', occurredAt: '2026-11-28T10:05:00.000Z', ticket: ticket('T-7') });
  });
});
