import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../observability/logger.js';
import { Deliverer, type DeliveredEvent } from './deliverer.js';
import { parseRemoteRef } from './open311.js';
import { Outbox } from './outbox.js';
import { tempDb, type TempDb } from './testing/db.js';
import { lifecycle } from './testing/fixtures.js';
import { eventually, TestReceiver } from './testing/receiver.js';
import type { Open311Target } from './types.js';

describe('Open311 forward', () => {
  let t: TempDb;
  let receiver: TestReceiver;
  let deliverer: Deliverer | undefined;

  beforeEach(async () => {
    t = tempDb();
    receiver = await new TestReceiver().up();
  });
  afterEach(async () => {
    await deliverer?.stop(1000);
    await receiver.down();
    t.cleanup();
  });

  function start(target: Open311Target) {
    const outbox = new Outbox({ db: t.db, targets: [target] });
    const delivered: DeliveredEvent[] = [];
    deliverer = new Deliverer({ outbox, log: silentLogger, pollIntervalMs: 20, backoff: { baseMs: 20, maxMs: 100 }, onDelivered: (e) => delivered.push(e) });
    deliverer.start();
    return { outbox, delivered };
  }

  it('posts an opened ticket as GeoReport v2 form fields, with api_key, and records the remote id; updates and closes are not forwarded', async () => {
    receiver.respond = () => ({ status: 201, headers: { 'content-type': 'application/json' }, body: '[{"service_request_id":"GR-981","service_notice":"thanks"}]' });
    const { outbox, delivered } = start({ kind: 'open311', name: 'open311', url: `${receiver.url}/open311/v2/`, apiKey: 'city-api-key', jurisdictionId: 'berlin.de' });
    for (const tr of lifecycle('T-1')) outbox.enqueue(tr);
    await eventually(() => delivered.length === 1, 'the forward');
    await new Promise((r) => setTimeout(r, 150));

    expect(receiver.requests).toHaveLength(1);
    const [req] = receiver.requests;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/open311/v2/requests.json');
    expect(req?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req?.headers['idempotency-key']).toBe('T-1:1');
    expect(Object.fromEntries(new URLSearchParams(req?.body))).toEqual({
      api_key: 'city-api-key',
      jurisdiction_id: 'berlin.de',
      service_code: 'waste.collect',
      lat: '52.52',
      long: '13.405',
      address_string: 'Alexanderplatz 1, Berlin',
      description: 'fillingLevel 0.86 ≥ 0.8',
      'attribute[device_id]': 'bin-0042',
      'attribute[rule]': 'waste-bin.full',
      'attribute[citypipe_request_id]': 'T-1',
    });
    expect(outbox.remoteIdOf('T-1', 'open311')).toBe('GR-981');
    expect(outbox.remoteRefOf('T-1', 'open311')).toEqual({ id: 'GR-981', kind: 'service_request_id' });
    expect(delivered[0]).toMatchObject({ key: 'T-1:1', remoteId: 'GR-981' });
    expect(outbox.deliveriesOf('T-1', 'open311')[0]).toMatchObject({ state: 'delivered', remoteId: 'GR-981', lastStatus: 201 });

    // The mapping outlives the pruned delivery row.
    expect(outbox.prune(Date.now() + 1000, Date.now() + 1000)).toBe(1);
    expect(outbox.deliveriesOf('T-1')).toEqual([]);
    expect(outbox.remoteIdOf('T-1', 'open311')).toBe('GR-981');
  });

  it('records a token when the endpoint assigns the id later', async () => {
    receiver.respond = () => ({ status: 200, body: '[{"token":"12345"}]' });
    const { outbox, delivered } = start({ kind: 'open311', name: 'open311', url: receiver.url, apiKey: 'k' });
    outbox.enqueue(lifecycle('T-2')[0]!);
    await eventually(() => delivered.length === 1, 'the forward');
    expect(outbox.remoteRefOf('T-2', 'open311')).toEqual({ id: '12345', kind: 'token' });
    expect(outbox.remoteIdOf('T-9', 'open311')).toBeUndefined();
  });

  it.each([
    ['[{"service_request_id":"7"}]', { id: '7', kind: 'service_request_id' }],
    ['[{"service_request_id":7}]', { id: '7', kind: 'service_request_id' }],
    ['{"service_request_id":"8"}', { id: '8', kind: 'service_request_id' }],
    ['[{"token":"abc"}]', { id: 'abc', kind: 'token' }],
    ['[]', undefined],
    ['<html>ok</html>', undefined],
    ['', undefined],
  ])('parseRemoteRef(%s)', (body, expected) => {
    expect(parseRemoteRef(body)).toEqual(expected);
  });
});
