import { describe, expect, it } from 'vitest';
import { clientIdBelongsTo, mayPublish, maySubscribe, sharedSubscriptionFilter, topicProblem, type Identity } from './acl.js';
import { deliveryQos, topicMatches } from './conformance.js';

const bin: Identity = { kind: 'device', id: 'bin-1', type: 'waste-bin', via: 'password', credential: 'h' };
const ops: Identity = { kind: 'account', name: 'ops', role: 'operator' };
const chirpstack: Identity = { kind: 'account', name: 'chirpstack', role: 'network-server' };
const worker: Identity = { kind: 'account', name: 'citypipe-worker', role: 'worker' };

describe('mayPublish', () => {
  it.each([
    ['city/waste-bin/bin-1/telemetry', true],
    ['city/waste-bin/bin-1/status', true],
    ['city/waste-bin/bin-1/', false],
    ['city/waste-bin/bin-1', false],
    ['city/waste-bin/bin-10/telemetry', false],
    ['city/waste-bin/bin-2/telemetry', false],
    ['city/streetlight/bin-1/telemetry', false],
    ['city/events/waste-bin/bin-1', false],
    ['$SYS/x', false],
    ['other', false],
  ])('a device, %s → %s', (topic, allowed) => {
    expect(mayPublish(bin, topic)).toBe(allowed);
  });

  it('an operator account publishes nowhere', () => {
    expect(mayPublish(ops, 'city/events/waste-bin/bin-1')).toBe(false);
    expect(mayPublish(ops, 'application/1/device/24e124713c215987/event/up')).toBe(false);
  });

  it.each([
    ['application/7d2f/device/24e124713c215987/event/up', true],
    ['application/7d2f/device/24e124713c215987/event/status', true],
    ['application/7d2f/device/24e124713c215987/event/log', true],
    ['application/7d2f/device/24e124713c215987/event', false],
    ['application/7d2f/device/24e124713c215987/event/up/x', false],
    ['application/7d2f/device//event/up', false],
    ['application/7d2f/gateway/24e124713c215987/event/up', false],
    ['application/7d2f/device/24e124713c215987/command/down', false],
    ['city/waste-bin/bin-1/telemetry', false],
    ['city/events/waste-bin/bin-1', false],
  ])('a network-server account, %s → %s', (topic, allowed) => {
    expect(mayPublish(chirpstack, topic)).toBe(allowed);
  });

  it.each([
    ['city/events/waste-bin/bin-1', true],
    ['city/events/', false],
    ['city/waste-bin/bin-1/telemetry', false],
    ['application/7d2f/device/24e124713c215987/event/up', false],
    ['other', false],
  ])('a worker account, %s → %s', (topic, allowed) => {
    expect(mayPublish(worker, topic)).toBe(allowed);
  });
});

describe('maySubscribe', () => {
  it.each([
    [bin, 'city/waste-bin/bin-1/#', true],
    [bin, 'city/waste-bin/bin-1/+', true],
    [bin, 'city/waste-bin/bin-1/status', true],
    [bin, 'city/waste-bin/+/status', false],
    [bin, 'city/waste-bin/bin-1', false],
    [bin, '#', false],
    [bin, '+/waste-bin/bin-1/#', false],
    [ops, 'city/events/#', true],
    [ops, 'city/events/waste-bin/+', true],
    [ops, 'city/events', false],
    [ops, 'city/#', false],
    [ops, 'city/+/waste-bin/x', false],
    [ops, '#', false],
    [ops, '$SYS/#', false],
    [ops, 'application/+/device/+/event/+', false],
    [chirpstack, 'application/+/device/+/command/+', true],
    [chirpstack, 'application/7d2f/device/24e124713c215987/command/down', true],
    [chirpstack, 'application/+/device/+/event/+', false],
    [chirpstack, 'application/#', false],
    [chirpstack, 'city/events/#', false],
    [chirpstack, '#', false],
    [worker, 'city/+/+/telemetry', true],
    [worker, '$share/citypipe/city/+/+/telemetry', true],
    [worker, '$share/citypipe/city/+/+/status', true],
    [worker, 'application/+/device/+/event/+', true],
    [worker, '$share/citypipe/application/+/device/+/event/+', true],
    [worker, '$share//city/+/+/telemetry', false],
    [worker, '$share/c+/city/+/+/telemetry', false],
    [worker, '$share/citypipe/#', false],
    [worker, 'city/', false],
    [worker, '#', false],
    [worker, '$SYS/#', false],
    [bin, '$share/g/city/waste-bin/bin-1/#', false],
  ])('%o %s → %s', (identity, filter, allowed) => {
    expect(maySubscribe(identity, filter)).toBe(allowed);
  });
});

describe('sharedSubscriptionFilter', () => {
  it.each([
    ['city/+/+/telemetry', 'city/+/+/telemetry'],
    ['$share/citypipe/city/+/+/telemetry', 'city/+/+/telemetry'],
    ['$share/citypipe/', undefined],
    ['$share/citypipe', undefined],
    ['$share//x', undefined],
    ['$share/#/x', undefined],
  ])('%s → %s', (filter, real) => {
    expect(sharedSubscriptionFilter(filter)).toBe(real);
  });
});

describe('clientIdBelongsTo', () => {
  it.each([
    ['bin-1', true],
    ['bin-1:fw2', true],
    ['bin-1:', false],
    ['bin-10', false],
    ['bin-1x', false],
    ['bin-2', false],
    [`bin-1:${'x'.repeat(64)}`, true],
    [`bin-1:${'x'.repeat(65)}`, false],
  ])('%s → %s', (clientId, ok) => {
    expect(clientIdBelongsTo(bin, clientId)).toBe(ok);
  });
});

describe('topicProblem', () => {
  it('refuses $SYS, NUL and U+FFFD', () => {
    expect(topicProblem('$SYS/broker')).toBe('reserved');
    expect(topicProblem('a/\u0000')).toBe('malformed');
    expect(topicProblem('a/\uFFFD')).toBe('malformed');
    expect(topicProblem('$lab/x')).toBeUndefined();
    expect(topicProblem('city/waste-bin/bin-1/telemetry')).toBeUndefined();
  });
});

describe('topicMatches (MQTT 3.1.1 §4.7)', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+/+', '/x', true],
    ['+', '', true],
    ['a/+/c', 'a//c', true],
    ['#', '$SYS/x', false],
    ['+/x', '$lab/x', false],
    ['$lab/#', '$lab/x', true],
    ['a/b', 'a/b/c', false],
  ])('%s matches %s → %s', (filter, topic, match) => {
    expect(topicMatches(filter, topic)).toBe(match);
  });

  it('delivers at the highest QoS of the matching subscriptions, capped by the published QoS', () => {
    const subs = { 'a/#': { qos: 0 }, 'a/+': { qos: 2 }, 'b/+': { qos: 1 } };
    expect(deliveryQos(subs, 'a/x', 2)).toBe(2);
    expect(deliveryQos(subs, 'a/x', 1)).toBe(1);
    expect(deliveryQos(subs, 'a/x/y', 2)).toBe(0);
    expect(deliveryQos(subs, 'b/x', 2)).toBe(1);
  });
});
