import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hexBytes } from '../../device-types/lorawan.js';
import { parseTts, parseTtsPublish, parseTtsTopic } from './tts.js';
import type { ParseResult } from './types.js';

type Json = Record<string, unknown>;

/** A fixture's bytes as The Things Stack would send them (see fixtures/README.md for where each comes from). */
function fixture(name: string): Buffer {
  return readFileSync(new URL(`./fixtures/tts/${name}.json`, import.meta.url));
}

function json(name: string): Json {
  return JSON.parse(fixture(name).toString('utf8')) as Json;
}

/** A fixture with fields of its `uplink_message` replaced (`undefined` drops the field). */
function withUplink(name: string, changes: Json, top: Json = {}): Buffer {
  const body = { ...json(name), ...top };
  const up: Json = { ...(body.uplink_message as Json), ...changes };
  for (const [key, value] of Object.entries(changes)) if (value === undefined) delete up[key];
  for (const [key, value] of Object.entries(top)) if (value === undefined) delete body[key];
  return Buffer.from(JSON.stringify({ ...body, uplink_message: up }));
}

/** A fixture given a DevEUI (several documentation examples leave it out). */
function withDevEui(name: string, devEui = '70B3D57ED0000001'): Json {
  const body = json(name);
  return { ...body, end_device_ids: { ...(body.end_device_ids as Json), dev_eui: devEui } };
}

function failure(result: ParseResult): { reason: string; message: string } {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.event)}`);
  return { reason: result.reason, message: result.message };
}

// uplink.json: the Network Server's receive time, 2025-04-16T11:54:13.787593298Z.
const STARTER_TIME = Date.UTC(2025, 3, 16, 11, 54, 13, 787);

describe('parseTts: the documentation examples', () => {
  it("reads a webhook's uplink: lower-cased DevEUI, port, counter, bytes, the Network Server's time, best RSSI", () => {
    expect(parseTts(fixture('uplink'))).toEqual({
      ok: true,
      event: {
        kind: 'up',
        server: 'tts',
        devEui: '70b3d52dd600035a',
        fPort: 2,
        bytes: hexBytes('b1000010 01e500d7 01'), // "sQAAEAHlANcB"
        decoded: { batteryVoltage: 3.4, pressEvent: 1, sensorTemperature: 21.5, singlePressEventCounter: 16, thermistorProperlyConnected: true },
        receivedAtMs: STARTER_TIME,
        fCnt: 14,
        rssi: -31,
        dedupKey: `70b3d52dd600035a:14:${STARTER_TIME}`,
      },
    });
  });

  it("reads a stored uplink whose gateway reported no RSSI", () => {
    expect(parseTts(fixture('uplink-storage'))).toEqual({
      ok: true,
      event: {
        kind: 'up',
        server: 'tts',
        devEui: '1111111111111111',
        fPort: 10,
        bytes: hexBytes('010a010a 010a010a'), // "AQoBCgEKAQo="
        decoded: undefined,
        receivedAtMs: Date.UTC(2020, 7, 24, 10, 8, 44, 634),
        fCnt: 43,
        rssi: undefined,
        dedupKey: `1111111111111111:43:${Date.UTC(2020, 7, 24, 10, 8, 44, 634)}`,
      },
    });
  });

  it.each([
    ['join-accept', 'join_accept message', '0004a30b001c0530'],
    ['downlink-ack', 'downlink_ack message', '0004a30b001c0530'],
    ['downlink-failed', 'downlink_failed message', undefined],
  ])('ignores %s and says why', (name, why, devEui) => {
    expect(parseTts(fixture(name))).toEqual({ ok: true, event: { kind: 'ignored', server: 'tts', devEui, why } });
  });

  it('refuses an uplink without a DevEUI, which the catalog cannot match (the simulated and field-masked examples)', () => {
    for (const name of ['uplink-simulated', 'uplink-decoded-only']) {
      expect(failure(parseTts(fixture(name)))).toEqual({ reason: 'invalid_uplink', message: 'end_device_ids.dev_eui: missing' });
    }
  });

  it('refuses a webhook body filtered down to the uplink alone', () => {
    expect(failure(parseTts(fixture('uplink-filtered'))).message).toBe('end_device_ids: missing');
  });

  it('refuses an uplink without any receive time (the MQTT example)', () => {
    expect(failure(parseTts(fixture('uplink-mqtt-example'))).message).toBe('received_at: missing');
  });

  it('refuses frm_payload without a port (the data-formats example) rather than decode it on port 0', () => {
    expect(failure(parseTts(fixture('uplink-data-formats')))).toEqual({
      reason: 'invalid_uplink',
      message: 'uplink_message.f_port: 0 or missing, but frm_payload carries 3 bytes (application data is on fPort 1..255)',
    });
  });
});

describe('parseTts: uplinks', () => {
  it("takes the Application Server's time when the uplink's own is Go's zero time (a simulated uplink)", () => {
    const result = parseTts(Buffer.from(JSON.stringify(withDevEui('uplink-simulated'))));
    expect(result.ok && result.event).toMatchObject({ kind: 'up', fPort: 1, bytes: hexBytes('00'), receivedAtMs: Date.UTC(2021, 1, 4, 19, 32, 31, 488) });
  });

  it("takes the Application Server's time when the uplink has none", () => {
    const result = parseTts(withUplink('uplink', { received_at: undefined }));
    expect(result.ok && result.event.kind === 'up' && result.event.receivedAtMs).toBe(Date.UTC(2025, 3, 16, 11, 54, 13, 995));
  });

  it('hands on a decoded payload whose port and bytes a field mask removed', () => {
    const result = parseTts(Buffer.from(JSON.stringify(withDevEui('uplink-decoded-only'))));
    expect(result).toEqual({
      ok: true,
      event: {
        kind: 'up',
        server: 'tts',
        devEui: '70b3d57ed0000001',
        fPort: undefined,
        bytes: undefined,
        decoded: { occupied: true, type: 'parking status' },
        receivedAtMs: Date.UTC(2021, 1, 4, 19, 19, 28, 681),
        fCnt: 0,
        rssi: undefined,
        dedupKey: `70b3d57ed0000001:0:${Date.UTC(2021, 1, 4, 19, 19, 28, 681)}`,
      },
    });
  });

  it('reads an omitted f_cnt as 0 (the first uplink of a session)', () => {
    const body = withUplink('uplink-mqtt-example', { received_at: '2019-01-29T13:02:35.012Z' });
    expect(parseTts(body)).toMatchObject({ ok: true, event: { kind: 'up', fPort: 15, fCnt: 0, devEui: '4200000000000000', rssi: -35 } });
  });

  it('ignores an uplink on port 0 without payload (MAC commands only)', () => {
    const result = parseTts(withUplink('uplink', { f_port: undefined, frm_payload: undefined, decoded_payload: undefined }));
    expect(result).toEqual({ ok: true, event: { kind: 'ignored', server: 'tts', devEui: '70b3d52dd600035a', why: 'fPort 0: MAC commands only' } });
  });

  it('leaves bytes undefined when a field mask removed frm_payload but kept the port', () => {
    const result = parseTts(withUplink('uplink', { frm_payload: undefined }));
    expect(result.ok && result.event).toMatchObject({ kind: 'up', fPort: 2, bytes: undefined, decoded: { pressEvent: 1 } });
  });

  it("takes the strongest gateway's RSSI, or its channel RSSI when that is all it gives", () => {
    const rx_metadata = [{ rssi: -101 }, { channel_rssi: -64 }, { rssi: -77, channel_rssi: -20 }, {}];
    const result = parseTts(withUplink('uplink', { rx_metadata }));
    expect(result.ok && result.event.kind === 'up' && result.event.rssi).toBe(-64);
  });

  it('refuses a payload still encrypted because the device skips payload crypto', () => {
    const body = withUplink('uplink', { app_s_key: { key: 'AAAAAAAAAAAAAAAAAAAAAA==' }, last_a_f_cnt_down: 3 });
    expect(failure(parseTts(body)).message).toMatch(/^uplink_message\.app_s_key: present: frm_payload is still encrypted/);
  });

  it('names a message that is no ApplicationUp', () => {
    expect(failure(parseTts(Buffer.from(JSON.stringify({ end_device_ids: { device_id: 'dev1' } })))).message).toBe(
      'uplink_message: missing, and the message is no other kind of ApplicationUp either',
    );
  });

  it.each([
    [{ f_port: 300 }, {}, 'uplink_message.f_port: must be an integer 0..255, got 300'],
    [{ f_cnt: 1.5 }, {}, 'uplink_message.f_cnt: must be an integer 0..4294967295, got 1.5'],
    [{ frm_payload: 'sQAA EAHl' }, {}, 'uplink_message.frm_payload: must be base64, got "sQAA EAHl"'],
    [{ decoded_payload: [1, 2] }, {}, 'uplink_message.decoded_payload: must be an object, got an array'],
    [{ rx_metadata: [{ rssi: '-31dBm' }] }, {}, 'uplink_message.rx_metadata[0].rssi: must be a finite number, got "-31dBm"'],
    [{ received_at: '16/04/2025 11:54' }, {}, 'uplink_message.received_at: must be an RFC 3339 time, got "16/04/2025 11:54"'],
    [{ received_at: undefined }, { received_at: 'yesterday' }, 'received_at: must be an RFC 3339 time, got "yesterday"'],
    [{}, { end_device_ids: { dev_eui: '70B3D52DD600035' } }, 'end_device_ids.dev_eui: must be 16 hex digits, got "70B3D52DD600035"'],
    [{}, { end_device_ids: 'eui-70b3d52dd600035a' }, 'end_device_ids: must be an object, got "eui-70b3d52dd600035a"'],
  ])('names the field that is wrong: %j %j', (changes, top, message) => {
    expect(failure(parseTts(withUplink('uplink', changes, top)))).toEqual({ reason: 'invalid_uplink', message });
  });

  it('calls a body that is not JSON invalid JSON', () => {
    expect(failure(parseTts(Buffer.from('{"uplink_message":')))).toMatchObject({ reason: 'invalid_json' });
  });
});

describe('parseTtsTopic', () => {
  it.each([
    ['v3/app1@tenant1/devices/dev1/up', { applicationId: 'app1', tenantId: 'tenant1', deviceId: 'dev1' }],
    ['v3/starter-kit@ttn/devices/eui-70b3d52dd600035a/up', { applicationId: 'starter-kit', tenantId: 'ttn', deviceId: 'eui-70b3d52dd600035a' }],
    ['v3/app1/devices/dev1/up', { applicationId: 'app1', tenantId: undefined, deviceId: 'dev1' }],
  ])('splits %s', (topic, parts) => {
    expect(parseTtsTopic(topic)).toEqual(parts);
  });

  it.each([
    ['a join topic', 'v3/app1@tenant1/devices/dev1/join'],
    ['a downlink event', 'v3/app1@tenant1/devices/dev1/down/ack'],
    ['a wildcard', 'v3/+/devices/+/up'],
    ['an empty tenant', 'v3/app1@/devices/dev1/up'],
    ['two tenants', 'v3/app1@t1@t2/devices/dev1/up'],
    ['an upper-case device id', 'v3/app1@tenant1/devices/Dev1/up'],
    ['an id of two characters', 'v3/ap@tenant1/devices/dev1/up'],
    ['a double dash', 'v3/app--1@tenant1/devices/dev1/up'],
    ['an id of 37 characters', `v3/app1@tenant1/devices/${'d'.repeat(37)}/up`],
    ['another version', 'v2/app1@tenant1/devices/dev1/up'],
  ])('refuses %s', (_, topic) => {
    expect(parseTtsTopic(topic)).toBeUndefined();
  });
});

describe('parseTtsPublish', () => {
  it("reads an uplink about the topic's device", () => {
    expect(parseTtsPublish('v3/starter-kit@ttn/devices/eui-70b3d52dd600035a/up', fixture('uplink'))).toMatchObject({ ok: true, event: { kind: 'up', fCnt: 14 } });
  });

  it("refuses a body about another device or application than the topic's", () => {
    expect(failure(parseTtsPublish('v3/starter-kit@ttn/devices/eui-70b3d52dd600035b/up', fixture('uplink')))).toEqual({
      reason: 'invalid_uplink',
      message: 'end_device_ids.device_id: "eui-70b3d52dd600035a" is not the topic\'s "eui-70b3d52dd600035b"',
    });
    expect(failure(parseTtsPublish('v3/other-app@ttn/devices/eui-70b3d52dd600035a/up', fixture('uplink'))).message).toBe(
      'end_device_ids.application_ids.application_id: "starter-kit" is not the topic\'s "other-app"',
    );
  });

  it('refuses a topic of another shape', () => {
    expect(failure(parseTtsPublish('v3/app1@tenant1/devices/dev1/join', fixture('join-accept'))).reason).toBe('invalid_topic');
  });
});
