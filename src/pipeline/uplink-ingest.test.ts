/**
 * A network server's message through ingest: the servers' shapes, the DevEUI lookup, the model's
 * codec, the type's completion and validation, deduplication that holds back nothing unstored, the
 * server's decoded object only when there are no bytes, and dead letters that keep the whole uplink.
 */
import { describe, expect, it } from 'vitest';
import { deviceRecordSchema, type DeviceRecord } from '../catalog/types.js';
import { hexBytes } from '../device-types/lorawan.js';
import { lorawanModels } from '../device-types/registry.js';
import type { RawMessage } from '../ingest/types.js';
import { chirpstackTopic, chirpstackUp, ttsUp } from '../../simulators/network-server.js';
import { TestCatalog } from '../dispatch/testing/fixtures.js';
import { IngestPipeline } from './ingest.js';

// The first registered model, and a catalog device of its type that needs no attributes beyond what its type's completion asks for.
const { model, type } = lorawanModels.find((m) => m.model.name === 'milesight-em400-udl')!;
// A full upright bin at 300 mm, as the model's own encoder frames it.
const frame = model.encode({ distanceMm: 300, temperature: 20, status: 'ok' }, 80)[0]!;
const sample = { fPort: frame.fPort, bytes: Buffer.from(frame.bytes).toString('hex') };
const device = (id: string, devEui: string, attributes: Record<string, number> = { containerDepthMm: 2000 }): DeviceRecord =>
  deviceRecordSchema.parse({ id, type: type.definition.name, district: 'centrum', location: { lat: 52.37, lon: 4.89 }, attributes, lorawan: { devEui, model: model.name } });

const sensor = device('s-1', '24e124713c215987');
const pipeline = () =>
  new IngestPipeline({
    catalog: new TestCatalog([sensor, device('s-2', '24e124713c215988', {})]),
    validate: { maxPayloadBytes: 65536, maxBatch: 100, maxAgeMs: 7 * 86_400_000, maxFutureMs: 300_000, maxDeadLetterPayloadBytes: 4096 },
  });
const now = Date.now();
const msg = (topic: string, body: string): RawMessage => ({ topic, payload: Buffer.from(body), receivedAt: now, clientId: 'chirpstack', username: 'chirpstack' });
const up = (devEui: string, over: { fCnt?: number; deduplicationId?: string } = {}) =>
  msg(chirpstackTopic(devEui, 'up'), chirpstackUp({ devEui, fPort: sample.fPort, bytes: hexBytes(sample.bytes), fCnt: over.fCnt ?? 1, timeMs: now - 1000, ...(over.deduplicationId ? { deduplicationId: over.deduplicationId } : {}) }));

describe('uplink ingest', () => {
  it('finds the device by DevEUI in any case and writes its decoded reading at the server time', () => {
    const out = pipeline().decide(up('24E124713C215987'))!;
    expect(out.deviceId).toBe('s-1');
    expect(out.deadLetters).toEqual([]);
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(new RegExp(`^${type.definition.measurement},device_id=s-1,district=centrum .*seq=1i.* ${now - 1000}$`));
  });

  it('stores a re-delivered uplink once, but not when the first copy could not be stored', () => {
    const p = pipeline();
    const first = p.decide(up('24e124713c215987', { deduplicationId: 'd-1' }))!;
    const again = p.decide(up('24e124713c215987', { deduplicationId: 'd-1' }))!;
    expect(first.lines).toHaveLength(1);
    // Acknowledged through the spool (after the first copy), with nothing in it.
    expect(again).toMatchObject({ lines: [], deadLetters: [], deviceId: 's-1' });
    expect(p.uplinks.counts.duplicates).toBe(1);
    const other = pipeline();
    const lost = other.decide(up('24e124713c215987', { deduplicationId: 'd-2' }))!;
    other.uplinks.failed(lost);
    expect(other.decide(up('24e124713c215987', { deduplicationId: 'd-2' }))!.lines).toHaveLength(1);
  });

  it('dead-letters a device the catalog lacks a needed attribute for, naming it, with the whole uplink', () => {
    const m = up('24e124713c215988');
    const out = pipeline().decide(m)!;
    expect(out.lines).toEqual([]);
    expect(out.deadLetters).toHaveLength(1);
    expect(out.deadLetters[0]).toMatchObject({ reason: 'missing_attribute', deviceId: 's-2', topic: m.topic, payload: m.payload.toString() });
  });

  it('takes the server decoded object only when the uplink has no bytes, as the type fields', () => {
    const body = JSON.parse(ttsUp({ devEui: '24e124713c215987', fPort: sample.fPort, bytes: hexBytes(sample.bytes), fCnt: 3, timeMs: now - 500 })) as { uplink_message: Record<string, unknown> };
    delete body.uplink_message['frm_payload'];
    body.uplink_message['decoded_payload'] = { distanceMm: 300 };
    const out = pipeline().decide(msg('http/tts/up', JSON.stringify(body)))!;
    expect(out.deadLetters).toEqual([]);
    expect(out.lines[0]).toContain('fillingLevel=0.85');
    body.uplink_message['decoded_payload'] = { distance: 300 };
    const vendorShaped = pipeline().decide(msg('http/tts/up', JSON.stringify(body)))!;
    // A vendor decoder's own keys are not the type's fields: refused, naming the field.
    expect(vendorShaped.deadLetters[0]).toMatchObject({ reason: 'missing_field', path: 'fillingLevel' });
  });

  it('reads The Things Stack MQTT topic and checks the body against it', () => {
    const body = ttsUp({ devEui: '24e124713c215987', fPort: sample.fPort, bytes: hexBytes(sample.bytes), fCnt: 4, timeMs: now - 500 }, 'bins');
    expect(pipeline().decide(msg('v3/bins@ttn/devices/eui-24e124713c215987/up', body))!.lines).toHaveLength(1);
    expect(pipeline().decide(msg('v3/other@ttn/devices/eui-24e124713c215987/up', body))!.deadLetters[0]!.reason).toMatch(/invalid_/);
  });
});
