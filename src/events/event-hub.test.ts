import { describe, expect, it } from 'vitest';
import { EventHub } from './event-hub.js';
import type { LoggedEvent } from './event-log.js';

let nextId = 1;
function logged(over: Partial<LoggedEvent> = {}): LoggedEvent {
  return {
    id: nextId++,
    at: 0,
    rule: 'waste.collect',
    serviceCode: 'waste.collect',
    deviceId: 'bin-1',
    district: 'centrum',
    type: 'waste-bin',
    severity: 'info',
    state: 'raised',
    value: 0.9,
    message: 'full',
    late: false,
    flapping: undefined,
    ticketId: undefined,
    transition: undefined,
    influxWritten: false,
    ...over,
  };
}

describe('EventHub', () => {
  it('fans events out to every subscriber whose filter matches, in order', async () => {
    const hub = new EventHub();
    const all = hub.subscribe();
    const lights = hub.subscribe({ type: 'streetlight' });
    const bin2Cleared = hub.subscribe({ deviceId: 'bin-2', rule: 'waste.collect', state: 'cleared' });
    const a = logged();
    const b = logged({ deviceId: 'light-1', type: 'streetlight', rule: 'light.out' });
    const c = logged({ deviceId: 'bin-2', state: 'cleared' });
    const d = logged({ deviceId: 'bin-2', state: 'raised' });
    hub.publish([a, b, c, d]);
    expect([await all.next(), await all.next(), await all.next(), await all.next()]).toEqual([a, b, c, d]);
    expect(await lights.next()).toBe(b);
    expect(await bin2Cleared.next()).toBe(c);
    expect(lights.queued).toBe(0);
    expect(hub.counts).toMatchObject({ published: 4, delivered: 6 });
  });

  it('wakes a waiting subscriber, and ends it on close after what it had queued', async () => {
    const hub = new EventHub();
    const sub = hub.subscribe();
    const waiting = sub.next();
    const a = logged();
    hub.publish([a]);
    expect(await waiting).toBe(a);

    const b = logged();
    hub.publish([b]);
    sub.close();
    expect(hub.size).toBe(0);
    hub.publish([logged()]);
    expect(await sub.next()).toBe(b);
    expect(await sub.next()).toBeUndefined();
    expect(sub.ended).toBe('closed');
  });

  it('disconnects a subscriber that falls behind instead of buffering for ever; others keep receiving', async () => {
    const hub = new EventHub({ maxQueue: 3 });
    const slow = hub.subscribe();
    const fast = hub.subscribe();
    const got: number[] = [];
    const reading = (async () => {
      for await (const e of fast) got.push(e.id);
    })();
    const events = Array.from({ length: 10 }, () => logged());
    for (const e of events) {
      hub.publish([e]);
      await new Promise((r) => setImmediate(r)); // the fast reader takes each one as it comes
    }
    expect(slow.ended).toBe('overflow');
    expect(slow.queued).toBe(0);
    expect(await slow.next()).toBeUndefined();
    expect(hub.counts.overflows).toBe(1);
    expect(hub.size).toBe(1);
    hub.close();
    await reading;
    expect(got).toEqual(events.map((e) => e.id));
    expect(fast.ended).toBe('hub-closed');
  });

  it('refuses a nonsensical queue size and a second concurrent next()', async () => {
    expect(() => new EventHub({ maxQueue: 0 })).toThrow('event hub maxQueue must be a positive integer, got 0');
    const sub = new EventHub().subscribe();
    void sub.next();
    await expect(sub.next()).rejects.toThrow('next() called again before the previous one resolved');
  });
});
