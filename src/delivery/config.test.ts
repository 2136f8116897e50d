import { describe, expect, it } from 'vitest';
import { CitypipeError } from '../errors/catalog.js';
import { deliveryTargetsFrom, type DeliveryEnv } from './config.js';

const SECRET = 'sixteen-chars-ok';

describe('deliveryTargetsFrom', () => {
  it('is empty when nothing is set', () => {
    expect(deliveryTargetsFrom({})).toEqual([]);
    expect(deliveryTargetsFrom({ CITYPIPE_WEBHOOK_URLS: ' , ', CITYPIPE_OPEN311_FORWARD_URL: '' })).toEqual([]);
  });

  it('makes one webhook per URL, named by origin and path, and an Open311 forward', () => {
    const targets = deliveryTargetsFrom({
      CITYPIPE_WEBHOOK_URLS: 'https://ops.city.example/hooks/citypipe?token=abc, http://10.0.0.5:8080/in',
      CITYPIPE_WEBHOOK_SECRET: SECRET,
      CITYPIPE_OPEN311_FORWARD_URL: 'https://crm.city.example/open311/v2/',
      CITYPIPE_OPEN311_API_KEY: 'key-1',
      CITYPIPE_OPEN311_JURISDICTION_ID: 'city.example',
    });
    expect(targets).toEqual([
      { kind: 'webhook', name: 'webhook:https://ops.city.example/hooks/citypipe', url: 'https://ops.city.example/hooks/citypipe?token=abc', secret: SECRET },
      { kind: 'webhook', name: 'webhook:http://10.0.0.5:8080/in', url: 'http://10.0.0.5:8080/in', secret: SECRET },
      { kind: 'open311', name: 'open311', url: 'https://crm.city.example/open311/v2', apiKey: 'key-1', jurisdictionId: 'city.example' },
    ]);
    expect(Object.isFrozen(targets[0])).toBe(true);
  });

  it.each<[string, DeliveryEnv, string]>([
    ['a webhook URL without a secret', { CITYPIPE_WEBHOOK_URLS: 'https://a.example/h' }, 'CITYPIPE_WEBHOOK_SECRET: is required'],
    ['a secret without URLs', { CITYPIPE_WEBHOOK_SECRET: SECRET }, 'CITYPIPE_WEBHOOK_SECRET: is set but CITYPIPE_WEBHOOK_URLS is empty'],
    ['a short secret', { CITYPIPE_WEBHOOK_URLS: 'https://a.example/h', CITYPIPE_WEBHOOK_SECRET: 'short' }, 'CITYPIPE_WEBHOOK_SECRET: must be at least 16'],
    ['a non-http(s) webhook URL', { CITYPIPE_WEBHOOK_URLS: 'ftp://a.example/h', CITYPIPE_WEBHOOK_SECRET: SECRET }, 'CITYPIPE_WEBHOOK_URLS: "ftp://a.example/h" must be an http:// or https:// URL'],
    ['a webhook value that is not a URL', { CITYPIPE_WEBHOOK_URLS: 'a.example/h', CITYPIPE_WEBHOOK_SECRET: SECRET }, 'CITYPIPE_WEBHOOK_URLS: "a.example/h" is not a URL'],
    ['the same webhook twice', { CITYPIPE_WEBHOOK_URLS: 'https://a.example/h,https://a.example/h?x=1', CITYPIPE_WEBHOOK_SECRET: SECRET }, 'CITYPIPE_WEBHOOK_URLS: lists https://a.example/h twice'],
    ['a forward URL without an API key', { CITYPIPE_OPEN311_FORWARD_URL: 'https://crm.example/open311/v2' }, 'CITYPIPE_OPEN311_API_KEY: is required'],
    ['an API key without a forward URL', { CITYPIPE_OPEN311_API_KEY: 'k' }, 'CITYPIPE_OPEN311_API_KEY: is set but CITYPIPE_OPEN311_FORWARD_URL is not'],
    ['a non-http(s) forward URL', { CITYPIPE_OPEN311_FORWARD_URL: 'mailto:ops@city.example', CITYPIPE_OPEN311_API_KEY: 'k' }, 'CITYPIPE_OPEN311_FORWARD_URL: "mailto:ops@city.example" must be an http:// or https:// URL'],
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

  it('does not print a URL’s credentials in an error', () => {
    expect(() => deliveryTargetsFrom({ CITYPIPE_WEBHOOK_URLS: 'ftp://user:hunter2@a.example/h', CITYPIPE_WEBHOOK_SECRET: SECRET })).toThrow(/^(?!.*hunter2).*ftp:\/\/\*\*\*@a\.example/);
  });
});
