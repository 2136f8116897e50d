import { describe, expect, it } from 'vitest';
import { REDACTED, redactorFor } from './redact.js';
import type { DeliveryTarget } from './types.js';

const slack: DeliveryTarget = { kind: 'webhook', name: 'k', url: 'https://hooks.slack.example/services/T0AAAA1111/B0BBBB2222/cccccccccccccccccccccc33', secret: 'signing-secret-0123456789' };
const teams: DeliveryTarget = {
  kind: 'webhook',
  name: 'k',
  url: 'https://contoso.webhook.office.example/webhookb2/0f8b6e3a-1d2c-4b5a-9e8f-7a6b5c4d3e2f@72f988bf-86f1-41af-91ab-2d7cd011db47/IncomingWebhook/5d9a1b2c3d4e/0a1b2c3d-4e5f',
  secret: 'signing-secret-0123456789',
};
const city: DeliveryTarget = { kind: 'open311', name: 'open311', url: 'https://user:pa55word@crm.city.example/open311/v2', apiKey: 'api key/with+chars' };

describe('redactorFor', () => {
  it.each([
    ['the whole URL', slack, `POST ${slack.url} failed`],
    ['the path a 404 page echoes', slack, 'Cannot POST /services/T0AAAA1111/B0BBBB2222/cccccccccccccccccccccc33'],
    ['one path segment alone', slack, 'invalid_token: cccccccccccccccccccccc33'],
    ['a percent-encoded path', slack, `next=${encodeURIComponent('/services/T0AAAA1111/B0BBBB2222/cccccccccccccccccccccc33')}`],
    ['a Teams path with @ in it', teams, `no route for ${new URL(teams.url).pathname}`],
    ['the signing secret', slack, 'bad key signing-secret-0123456789'],
    ['the api_key, plain and form-encoded', city, 'api_key=api+key%2Fwith%2Bchars is not api key/with+chars'],
    ['userinfo', city, 'login pa55word for user refused'],
  ])('hides %s', (_what, target, text) => {
    const out = redactorFor(target)(text);
    expect(out).toContain(REDACTED);
    for (const secret of ['T0AAAA1111', 'B0BBBB2222', 'cccccccccccccccccccccc33', '72f988bf', 'signing-secret', 'api+key', 'api key', 'pa55word']) expect(out).not.toContain(secret);
  });

  it('leaves the rest alone: origin, status, words', () => {
    expect(redactorFor(slack)('HTTP 500 from https://hooks.slack.example: services busy')).toBe('HTTP 500 from https://hooks.slack.example: services busy');
  });
});
