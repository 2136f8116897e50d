import { describe, expect, it } from 'vitest';
import type { Aedes, PublishPacket } from 'aedes';
import { filterCouldMatchTelemetry, TelemetryRouting } from './telemetry-route.js';

describe('filterCouldMatchTelemetry', () => {
  it.each([
    ['#', true],
    ['city/#', true],
    ['+/+/+/telemetry', true],
    ['city/+/+/+', true],
    ['city/waste-bin/bin-1/#', true],
    ['city/waste-bin/bin-1/telemetry', true],
    ['city/waste-bin/bin-1/telemetry/#', true],
    ['city/+/bin-1/telemetry', true],
    ['+/#', true],
  ])('%s could match a telemetry topic: %s', (filter, expected) => {
    expect(filterCouldMatchTelemetry(filter)).toBe(expected);
  });

  it.each([
    ['city/events/#', false],
    ['city/events/+', false],
    ['city/events/+/telemetry', false],
    ['city/events/waste-bin/+', false],
    ['city/waste-bin/bin-1/status', false],
    ['city/waste-bin/bin-1/cmd/#', false],
    ['city/+/+/status', false],
    ['city/+/+', false],
    ['city/+/+/telemetry/x', false],
    ['$SYS/#', false],
    ['town/#', false],
    ['+/+/+', false],
  ])('%s cannot: %s', (filter, expected) => {
    expect(filterCouldMatchTelemetry(filter)).toBe(expected);
  });
});

/** An aedes stand-in whose publish records what it was asked to route. */
function fakeAedes(): { aedes: Aedes; routed: string[] } {
  const routed: string[] = [];
  const aedes = {
    publish(packet: PublishPacket, client: unknown, done?: (err?: Error | null) => void) {
      const cb = typeof client === 'function' ? (client as (err?: Error | null) => void) : done;
      routed.push(packet.topic);
      cb?.(null);
    },
  } as unknown as Aedes;
  return { aedes, routed };
}

const packet = (topic: string, extra: Partial<PublishPacket> = {}) => ({ cmd: 'publish', topic, payload: Buffer.from('{}'), qos: 1, retain: false, dup: false, ...extra }) as PublishPacket;
const client = { id: 'bin-1' };

function publish(aedes: Aedes, p: PublishPacket): Promise<void> {
  return new Promise((resolve, reject) => (aedes.publish as unknown as (p: PublishPacket, c: unknown, d: (e?: Error | null) => void) => void)(p, client, (e) => (e ? reject(e) : resolve())));
}

describe('TelemetryRouting', () => {
  it('completes telemetry without routing it while no subscription could match, routes everything else', async () => {
    const { aedes, routed } = fakeAedes();
    const routing = new TelemetryRouting();
    routing.install(aedes);
    await publish(aedes, packet('city/waste-bin/bin-1/telemetry'));
    await publish(aedes, packet('city/waste-bin/bin-1/telemetry', { qos: 0 }));
    await publish(aedes, packet('city/waste-bin/bin-1/status'));
    await publish(aedes, packet('city/waste-bin/bin-1/telemetry', { retain: true }));
    await publish(aedes, packet('city/waste-bin/bin-1/telemetry', { qos: 2 }));
    await publish(aedes, packet('city/a/b/c/telemetry'));
    await publish(aedes, packet('city//b/telemetry'));
    await publish(aedes, packet('city/events/x/telemetry'));
    expect(routed).toEqual([
      'city/waste-bin/bin-1/status',
      'city/waste-bin/bin-1/telemetry',
      'city/waste-bin/bin-1/telemetry',
      'city/a/b/c/telemetry',
      'city//b/telemetry',
      'city/events/x/telemetry',
    ]);
    expect(routing.skipped).toBe(2);
    expect(routing.routed).toBe(false);
  });

  it('routes telemetry for good once a subscription that could match it is authorized', async () => {
    const { aedes, routed } = fakeAedes();
    const turnedOn: string[] = [];
    const routing = new TelemetryRouting((f) => turnedOn.push(f));
    routing.install(aedes);
    routing.observe('city/events/#');
    routing.observe('city/waste-bin/bin-1/status');
    await publish(aedes, packet('city/waste-bin/bin-1/telemetry'));
    expect(routed).toEqual([]);
    routing.observe('city/waste-bin/bin-1/#');
    routing.observe('#');
    await publish(aedes, packet('city/waste-bin/bin-1/telemetry'));
    expect(routed).toEqual(['city/waste-bin/bin-1/telemetry']);
    expect(turnedOn).toEqual(['city/waste-bin/bin-1/#']);
  });
});
