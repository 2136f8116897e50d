import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { CitypipeError } from '../errors/catalog.js';
import { deliveryTargetsFrom, type DeliveryEnv } from './config.js';

/** The storage key of a webhook: origin and a digest of origin and path. */
const key = (origin: string, path: string) => `webhook:${origin}#${createHash('sha256').update(origin + path).digest('hex').slice(0, 12)}`;

const SECRET = 'sixteen-chars-ok';

describe('deliveryTargetsFrom', () => {
  it('is empty when nothing is set', () => {
    expect(deliveryTargetsFrom({})).toEqual([]);
    expect(deliveryTargetsFrom({ CITYPIPE_WEBHOOK_URLS: ' , ', CITYPIPE_OPEN311_FORWARD_URL: '' })).toEqual([]);
  });

  it('makes one webhook per URL and an Open311 forward; labels and keys never carry a path (it may be the credential)', () => {
    const targets = deliveryTargetsFrom({
      CITYPIPE_WEBHOOK_URLS: 'https://ops.city.example/hooks/citypipe?token=abc, http://10.0.0.5:8080/in',
      CITYPIPE_WEBHOOK_SECRET: SECRET,
      CITYPIPE_OPEN311_FORWARD_URL: 'https://crm.city.example/open311/v2/',
      CITYPIPE_OPEN311_API_KEY: 'key-1',
      CITYPIPE_OPEN311_JURISDICTION_ID: 'city.example',
    });
    expect(targets).toEqual([
      {
        kind: 'webhook',
        name: key('https://ops.city.example', '/hooks/citypipe'),
        label: 'webhook:https://ops.city.example',
        url: 'https://ops.city.example/hooks/citypipe?token=abc',
        secret: SECRET,
        formerNames: ['webhook:https://ops.city.example/hooks/citypipe'],
      },
      { kind: 'webhook', name: key('http://10.0.0.5:8080', '/in'), label: 'webhook:http://10.0.0.5:8080', url: 'http://10.0.0.5:8080/in', secret: SECRET, formerNames: ['webhook:http://10.0.0.5:8080/in'] },
      { kind: 'open311', name: 'open311', label: 'open311', url: 'https://crm.city.example/open311/v2', apiKey: 'key-1', jurisdictionId: 'city.example' },
    ]);
    expect(Object.isFrozen(targets[0])).toBe(true);
  });

  it('labels webhooks that share an origin by list position, or by the name an operator gives (name=URL); keys do not depend on either', () => {
    const slack = 'https://hooks.slack.example/services/T0000SECRET/B0000SECRET/XXXXXXXXXXXXXXXXXXXXXXXX';
    const teams = 'https://hooks.slack.example/services/T1111SECRET/B1111SECRET/YYYYYYYYYYYYYYYYYYYYYYYY';
    const labels = (urls: string) => deliveryTargetsFrom({ CITYPIPE_WEBHOOK_URLS: urls, CITYPIPE_WEBHOOK_SECRET: SECRET }).map((t) => [t.name, t.label]);
    const [a, b] = [key('https://hooks.slack.example', new URL(slack).pathname), key('https://hooks.slack.example', new URL(teams).pathname)];
    expect(labels(`${slack},${teams}`)).toEqual([
      [a, 'webhook:https://hooks.slack.example#1'],
      [b, 'webhook:https://hooks.slack.example#2'],
    ]);
    // Reordered: the labels follow the list, the keys (which rows are stored under) follow the URL.
    expect(labels(`${teams},${slack}`)).toEqual([
      [b, 'webhook:https://hooks.slack.example#1'],
      [a, 'webhook:https://hooks.slack.example#2'],
    ]);
    expect(labels(`ops-slack=${slack}, ${teams}`)).toEqual([
      [a, 'webhook:ops-slack'],
      [b, 'webhook:https://hooks.slack.example'],
    ]);
    for (const t of deliveryTargetsFrom({ CITYPIPE_WEBHOOK_URLS: `${slack},${teams}`, CITYPIPE_WEBHOOK_SECRET: SECRET })) {
      expect(`${t.name} ${t.label}`).not.toMatch(/SECRET|XXXX|YYYY|services/);
    }
  });

  it.each<[string, DeliveryEnv, string]>([
    ['a webhook URL without a secret', { CITYPIPE_WEBHOOK_URLS: 'https://a.example/h' }, 'CITYPIPE_WEBHOOK_SECRET: is required'],
    ['a secret without URLs', { CITYPIPE_WEBHOOK_SECRET: SECRET }, 'CITYPIPE_WEBHOOK_SECRET: is set but CITYPIPE_WEBHOOK_URLS is empty'],
    ['a short secret', { CITYPIPE_WEBHOOK_URLS: 'https://a.example/h', CITYPIPE_WEBHOOK_SECRET: 'short' }, 'CITYPIPE_WEBHOOK_SECRET: must be at least 16'],
    ['a non-http(s) webhook URL', { CITYPIPE_WEBHOOK_URLS: 'ftp://a.example/h', CITYPIPE_WEBHOOK_SECRET: SECRET }, 'CITYPIPE_WEBHOOK_URLS: entry 1 must be an http:// or https:// URL, not ftp: (ftp://a.example/…)'],
    ['a webhook value that is not a URL', { CITYPIPE_WEBHOOK_URLS: 'https://a.example/h,a.example/h', CITYPIPE_WEBHOOK_SECRET: SECRET }, 'CITYPIPE_WEBHOOK_URLS: entry 2 is not a URL (expected http(s)://host/path, or name=http(s)://host/path)'],
    ['the same webhook twice', { CITYPIPE_WEBHOOK_URLS: 'https://a.example/h,https://a.example/h?x=1', CITYPIPE_WEBHOOK_SECRET: SECRET }, 'CITYPIPE_WEBHOOK_URLS: entries 1 and 2 are the same receiver (https://a.example, same path); list each once'],
    ['two webhooks of one name', { CITYPIPE_WEBHOOK_URLS: 'ops=https://a.example/h,ops=https://b.example/h', CITYPIPE_WEBHOOK_SECRET: SECRET }, 'CITYPIPE_WEBHOOK_URLS: entries 1 and 2 are both named "ops"'],
    ['a forward URL without an API key', { CITYPIPE_OPEN311_FORWARD_URL: 'https://crm.example/open311/v2' }, 'CITYPIPE_OPEN311_API_KEY: is required'],
    ['an API key without a forward URL', { CITYPIPE_OPEN311_API_KEY: 'k' }, 'CITYPIPE_OPEN311_API_KEY: is set but CITYPIPE_OPEN311_FORWARD_URL is not'],
    ['a non-http(s) forward URL', { CITYPIPE_OPEN311_FORWARD_URL: 'mailto:ops@city.example', CITYPIPE_OPEN311_API_KEY: 'k' }, 'CITYPIPE_OPEN311_FORWARD_URL: must be an http:// or https:// URL, not mailto:'],
    ['a forward URL with a query', { CITYPIPE_OPEN311_FORWARD_URL: 'https://crm.example/open311/v2?x=1', CITYPIPE_OPEN311_API_KEY: 'k' }, 'CITYPIPE_OPEN311_FORWARD_URL: must be the endpoint base'],
  ])('rejects %s, naming the key', (_what, env, message) => {
    let error: unknown;
    try {
      deliveryTargetsFrom(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CitypipeError);
    expect((error as CitypipeError).code).toBe('CP_ERR_CONFIG_INVALID');
    expect((error as CitypipeError).message).toContain(message);
  });

  it('does not print a URL’s credentials, path or query in an error', () => {
    expect(() => deliveryTargetsFrom({ CITYPIPE_WEBHOOK_URLS: 'ftp://user:hunter2@a.example/h', CITYPIPE_WEBHOOK_SECRET: SECRET })).toThrow(/^(?!.*hunter2).*ftp:\/\/a\.example\/…/);
    const secretPath = 'https://hooks.example/services/T0SECRET/B0SECRET/XyZsecret';
    for (const urls of [`${secretPath},${secretPath}`, `x=${secretPath},x=https://b.example/T1SECRET`, `${secretPath},hooks.example/T2SECRET`]) {
      expect(() => deliveryTargetsFrom({ CITYPIPE_WEBHOOK_URLS: urls, CITYPIPE_WEBHOOK_SECRET: SECRET })).toThrow(/^(?!.*SECRET)CITYPIPE_WEBHOOK_URLS: /);
    }
  });
});
