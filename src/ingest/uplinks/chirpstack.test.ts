import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hexBytes } from '../../device-types/lorawan.js';
import { parseChirpstack, parseChirpstackPublish, parseChirpstackTopic } from './chirpstack.js';
import type { ParseResult } from './types.js';

/** A fixture's bytes as ChirpStack would send them (see fixtures/README.md for where each comes from). */
function fixture(name: string): Buffer {
  return readFileSync(new URL(`./fixtures/chirpstack/${name}.json`, import.meta.url));
}

/** A fixture with some of its top-level fields replaced (`undefined` drops the field). */
function changed(name: string, changes: Record<string, unknown>): Buffer {
  const body = { ...(JSON.parse(fixture(name).toString('utf8')) as Record<string, unknown>), ...changes };
  for (const [key, value] of Object.entries(changes)) if (value === undefined) delete body[key];
  return Buffer.from(JSON.stringify(body));
}

function failure(result: ParseResult): { reason: string; message: string } {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.event)}`);
  return { reason: result.reason, message: result.message };
}

// The times of the documentation's examples, to the millisecond.
const UP_TIME = Date.UTC(2022, 6, 18, 9, 34, 15, 775); // 2022-07-18T09:34:15.775023242+00:00
const STATUS_TIME = Date.UTC(2022, 6, 18, 9, 35, 6, 927); // 2022-07-18T09:35:06.927172638+00:00
const DEV_EUI = '0101010101010101';

describe('parseChirpstack: the documentation examples', () => {
  it('reads an up event: DevEUI, port, bytes, receive time, best RSSI, deduplicationId; the omitted fCnt is 0', () => {
    expect(parseChirpstack('up', fixture('up'))).toEqual({
      ok: true,
      event: {
        kind: 'up',
        server: 'chirpstack',
        devEui: DEV_EUI,
        fPort: 1,
        bytes: hexBytes('aa'), // "qg=="
        decoded: undefined,
        receivedAtMs: UP_TIME,
        fCnt: 0,
        rssi: -36,
        dedupKey: '3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
      },
    });
  });

  it("hands on the codec's object beside the bytes", () => {
    const result = parseChirpstack('up', fixture('up-with-object'));
    expect(result.ok && result.event.kind === 'up' && result.event.decoded).toEqual({ temperatureSensor: { 1: 25 }, humiditySensor: { 1: 32 } });
    expect(result.ok && result.event.kind === 'up' && result.event.bytes).toEqual(hexBytes('aa'));
  });

  it('reads a status event: the battery in percent', () => {
    expect(parseChirpstack('status', fixture('status'))).toEqual({
      ok: true,
      event: { kind: 'status', server: 'chirpstack', devEui: DEV_EUI, receivedAtMs: STATUS_TIME, batteryPercent: 88.3, externalPower: false },
    });
  });

  it('gives no battery level for a device on external power or one that cannot measure it', () => {
    const external = parseChirpstack('status', fixture('status-external-power'));
    expect(external.ok && external.event).toMatchObject({ kind: 'status', batteryPercent: undefined, externalPower: true });
    const unavailable = parseChirpstack('status', fixture('status-battery-unavailable'));
    expect(unavailable.ok && unavailable.event).toMatchObject({ kind: 'status', batteryPercent: undefined, externalPower: false });
    // ChirpStack writes level 0 beside the flag; a level written anyway is not a reading of the battery.
    const withLevel = parseChirpstack('status', changed('status-external-power', { batteryLevel: 50 }));
    expect(withLevel.ok && withLevel.event).toMatchObject({ batteryPercent: undefined, externalPower: true });
  });

  it("turns a log event with code UPLINK_CODEC into a codec error naming ChirpStack's reason and the uplink", () => {
    expect(parseChirpstack('log', fixture('log-uplink-codec'))).toEqual({
      ok: true,
      event: {
        kind: 'codec-error',
        server: 'chirpstack',
        devEui: DEV_EUI,
        receivedAtMs: Date.UTC(2022, 6, 18, 9, 34, 15, 781),
        description: 'JS error: Error: foo is not defined\n    at decodeUplink (main:5:1)\n    at <anonymous> (main:10:37)\n',
        deduplicationId: '3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
      },
    });
  });

  it('reads the log code written as its enum number too', () => {
    const result = parseChirpstack('log', changed('log-uplink-codec', { code: 2 }));
    expect(result.ok && result.event.kind).toBe('codec-error');
    const mic = parseChirpstack('log', changed('log-uplink-mic', { code: 6 }));
    expect(mic.ok && mic.event).toMatchObject({ kind: 'ignored', why: 'log event UPLINK_MIC' });
  });

  it.each([
    ['log', 'log-uplink-mic', 'log event UPLINK_MIC', DEV_EUI],
    ['join', 'join', 'join event', DEV_EUI],
    ['ack', 'ack', 'ack event', DEV_EUI],
    ['txack', 'txack', 'txack event', DEV_EUI],
    ['location', 'location', 'location event', DEV_EUI],
    ['integration', 'integration', 'integration event', '0016c001f000175a'],
  ])('ignores a %s event (%s) and says why', (eventType, name, why, devEui) => {
    expect(parseChirpstack(eventType, fixture(name))).toEqual({ ok: true, event: { kind: 'ignored', server: 'chirpstack', devEui, why } });
  });

  it('ignores event types it does not know, naming them', () => {
    expect(parseChirpstack('someday', fixture('join'))).toMatchObject({ ok: true, event: { kind: 'ignored', why: 'unknown event type "someday"' } });
  });
});

describe('parseChirpstack: up events', () => {
  it('takes the strongest RSSI over the gateways', () => {
    const rxInfo = [{ gatewayId: 'a', rssi: -110 }, { gatewayId: 'b', rssi: -57 }, { gatewayId: 'c' }, { gatewayId: 'd', rssi: -98.5 }];
    const result = parseChirpstack('up', changed('up', { rxInfo }));
    expect(result.ok && result.event.kind === 'up' && result.event.rssi).toBe(-57);
    const none = parseChirpstack('up', changed('up', { rxInfo: undefined }));
    expect(none.ok && none.event.kind === 'up' && none.event.rssi).toBeUndefined();
  });

  it('keys an uplink without a deduplicationId by DevEUI, frame counter and receive time', () => {
    const result = parseChirpstack('up', changed('up', { deduplicationId: undefined, fCnt: 7 }));
    expect(result.ok && result.event.kind === 'up' && result.event.dedupKey).toBe(`${DEV_EUI}:7:${UP_TIME}`);
  });

  it('reads 32-bit frame counters, as numbers or as decimal strings', () => {
    for (const fCnt of [4294967295, '4294967295']) {
      const result = parseChirpstack('up', changed('up', { fCnt }));
      expect(result.ok && result.event.kind === 'up' && result.event.fCnt).toBe(4294967295);
    }
    expect(failure(parseChirpstack('up', changed('up', { fCnt: 4294967296 })))).toEqual({
      reason: 'invalid_uplink',
      message: 'fCnt: must be an integer 0..4294967295, got 4294967296',
    });
    expect(failure(parseChirpstack('up', changed('up', { fCnt: -1 }))).message).toBe('fCnt: must be an integer 0..4294967295, got -1');
    expect(failure(parseChirpstack('up', changed('up', { fPort: 256 }))).message).toBe('fPort: must be an integer 0..255, got 256');
  });

  it('ignores an uplink on port 0 (MAC commands only), even with an object from the codec', () => {
    for (const fPort of [undefined, 0]) {
      const result = parseChirpstack('up', changed('up', { fPort, data: undefined, object: { empty: true } }));
      expect(result).toEqual({ ok: true, event: { kind: 'ignored', server: 'chirpstack', devEui: DEV_EUI, why: 'fPort 0: MAC commands only' } });
    }
  });

  it('refuses bytes without a port rather than decode them on port 0', () => {
    expect(failure(parseChirpstack('up', changed('up', { fPort: undefined })))).toEqual({
      reason: 'invalid_uplink',
      message: 'fPort: 0 or missing, but data carries 1 byte (application data is on fPort 1..255)',
    });
  });

  it('leaves bytes undefined when data is absent, and hands on an empty payload as empty', () => {
    const absent = parseChirpstack('up', changed('up', { data: undefined }));
    expect(absent.ok && absent.event.kind === 'up' && absent.event.bytes).toBeUndefined();
    const empty = parseChirpstack('up', changed('up', { data: '' }));
    expect(empty.ok && empty.event.kind === 'up' && empty.event.bytes).toEqual(new Uint8Array(0));
  });

  it('refuses an end-to-end encrypted payload, which only the join server could read', () => {
    const body = changed('up', { joinServerContext: { sessionKeyId: '0102', appSKey: { kekLabel: 'kek', aesKey: 'AAAAAAAAAAAAAAAAAAAAAA==' } } });
    expect(failure(parseChirpstack('up', body)).message).toMatch(/^joinServerContext: present: the payload is encrypted end to end/);
  });

  it.each([
    ['standard', 'AQID+/8=', '010203fbff'],
    ['unpadded', 'AQID+/8', '010203fbff'],
    ['URL-safe', 'AQID-_8=', '010203fbff'],
  ])('decodes %s base64', (_, data, hex) => {
    const result = parseChirpstack('up', changed('up', { data }));
    expect(result.ok && result.event.kind === 'up' && result.event.bytes).toEqual(hexBytes(hex));
  });

  it.each([
    ['a character outside base64', 'AQ*D'],
    ['a space', 'AQ ID'],
    ['a length no base64 has', 'AQIDB'],
    ['padding at a wrong length', 'AQI=='],
    ['three padding characters', 'AQ==='],
    ['padding in the middle', 'AQ==AQ=='],
  ])('refuses data with %s', (_, data) => {
    expect(failure(parseChirpstack('up', changed('up', { data })))).toEqual({ reason: 'invalid_uplink', message: `data: must be base64, got ${JSON.stringify(data)}` });
  });

  it('reads a time with any offset, dropping digits beyond the millisecond', () => {
    const result = parseChirpstack('up', changed('up', { time: '2022-07-18T11:34:15.775999999+02:00' }));
    expect(result.ok && result.event.kind === 'up' && result.event.receivedAtMs).toBe(UP_TIME);
  });

  it.each([
    ['a date that does not exist', '2022-02-30T09:34:15Z'],
    ['no offset', '2022-07-18T09:34:15.775'],
    ['a space for the T', '2022-07-18 09:34:15Z'],
    ['epoch milliseconds', 1658136855775],
    ['an empty string', ''],
  ])('refuses a time with %s, naming the field', (_, time) => {
    expect(failure(parseChirpstack('up', changed('up', { time }))).message).toMatch(/^time: must be/);
  });

  it('lower-cases the DevEUI', () => {
    const body = changed('up', { deviceInfo: { devEui: '24E124713C215987' } });
    expect(parseChirpstack('up', body)).toMatchObject({ ok: true, event: { devEui: '24e124713c215987' } });
  });

  it.each([
    [{ deviceInfo: undefined }, 'deviceInfo: missing'],
    [{ deviceInfo: [] }, 'deviceInfo: must be an object, got an array'],
    [{ deviceInfo: { devEui: null } }, 'deviceInfo.devEui: missing'],
    [{ deviceInfo: { devEui: '01010101' } }, 'deviceInfo.devEui: must be 16 hex digits, got "01010101"'],
    [{ deviceInfo: { devEui: 101010101010101 } }, 'deviceInfo.devEui: must be a string, got 101010101010101'],
    [{ time: undefined }, 'time: missing'],
    [{ rxInfo: {} }, 'rxInfo: must be an array, got an object'],
    [{ rxInfo: [{ rssi: -40 }, 'gw'] }, 'rxInfo[1]: must be an object, got "gw"'],
    [{ rxInfo: [{ rssi: -40 }, { rssi: 'strong' }] }, 'rxInfo[1].rssi: must be a finite number, got "strong"'],
    [{ object: 'x' }, 'object: must be an object, got "x"'],
    [{ deduplicationId: 5 }, 'deduplicationId: must be a string, got 5'],
  ])('names the field that is wrong: %j', (changes, message) => {
    expect(failure(parseChirpstack('up', changed('up', changes)))).toEqual({ reason: 'invalid_uplink', message });
  });
});

describe('parseChirpstack: status and log events', () => {
  it('refuses a battery level outside 0..100', () => {
    expect(failure(parseChirpstack('status', changed('status', { batteryLevel: 254 }))).message).toBe('batteryLevel: must be a percentage 0..100, got 254');
  });

  it('needs the DevEUI and time of a codec error, but not of a log it ignores', () => {
    expect(failure(parseChirpstack('log', changed('log-uplink-codec', { deviceInfo: {} }))).message).toBe('deviceInfo.devEui: missing');
    expect(parseChirpstack('log', changed('log-uplink-mic', { deviceInfo: {} }))).toEqual({
      ok: true,
      event: { kind: 'ignored', server: 'chirpstack', devEui: undefined, why: 'log event UPLINK_MIC' },
    });
  });

  it('reads a log without a code as UNKNOWN, and refuses a code of another type', () => {
    expect(parseChirpstack('log', changed('log-uplink-mic', { code: undefined }))).toMatchObject({ ok: true, event: { why: 'log event UNKNOWN' } });
    expect(failure(parseChirpstack('log', changed('log-uplink-mic', { code: { name: 'UPLINK_CODEC' } }))).message).toBe(
      'code: must be a LogCode name or number, got an object',
    );
  });
});

describe('parseChirpstack: bodies that are not events', () => {
  it.each([
    ['empty', ''],
    ['truncated', '{"deviceInfo": {'],
    ['not JSON at all', 'qg=='],
  ])('calls a body that is %s invalid JSON', (_, text) => {
    expect(failure(parseChirpstack('up', Buffer.from(text)))).toMatchObject({ reason: 'invalid_json', message: expect.stringMatching(/^payload: not JSON/) });
  });

  it.each([
    ['null', 'null'],
    ['[]', 'an array'],
    ['"up"', '"up"'],
    ['42', '42'],
  ])('refuses %s as a body', (text, shown) => {
    expect(failure(parseChirpstack('status', Buffer.from(text)))).toEqual({ reason: 'invalid_uplink', message: `payload: must be a JSON object, got ${shown}` });
  });
});

describe('parseChirpstackTopic', () => {
  it.each([
    ['application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up', '17c82e96-be03-4f38-aef3-f83d48582d97', '0101010101010101', 'up'],
    ['application/00000000-0000-0000-0000-000000000000/device/0102030405060708/event/status', '00000000-0000-0000-0000-000000000000', '0102030405060708', 'status'],
    ['application/app/device/24E124713C215987/event/log', 'app', '24e124713c215987', 'log'],
  ])('splits %s', (topic, applicationId, devEui, eventType) => {
    expect(parseChirpstackTopic(topic)).toEqual({ applicationId, devEui, eventType });
  });

  it.each([
    ['a command topic', 'application/app/device/0101010101010101/command/down'],
    ['a short DevEUI', 'application/app/device/01010101/event/up'],
    ['a DevEUI that is not hex', 'application/app/device/010101010101010g/event/up'],
    ['an extra level', 'application/app/device/0101010101010101/event/up/x'],
    ['an empty event', 'application/app/device/0101010101010101/event/'],
    ['an empty application', 'application//device/0101010101010101/event/up'],
    ['a wildcard', 'application/+/device/0101010101010101/event/up'],
    ["a citypipe device's topic", 'city/waste-bin/bin-0001/telemetry'],
    ['an upper-case root', 'Application/app/device/0101010101010101/event/up'],
  ])('refuses %s', (_, topic) => {
    expect(parseChirpstackTopic(topic)).toBeUndefined();
  });
});

describe('parseChirpstackPublish', () => {
  const topic = (devEui: string, event: string): string => `application/17c82e96-be03-4f38-aef3-f83d48582d97/device/${devEui}/event/${event}`;

  it('reads the event the topic names', () => {
    expect(parseChirpstackPublish(topic(DEV_EUI, 'status'), fixture('status'))).toMatchObject({ ok: true, event: { kind: 'status', batteryPercent: 88.3 } });
    expect(parseChirpstackPublish(topic(DEV_EUI.toUpperCase(), 'up'), fixture('up'))).toMatchObject({ ok: true, event: { kind: 'up', devEui: DEV_EUI } });
  });

  it("refuses a body about another device than the topic's", () => {
    expect(failure(parseChirpstackPublish(topic('0202020202020202', 'up'), fixture('up')))).toEqual({
      reason: 'invalid_uplink',
      message: "deviceInfo.devEui: 0101010101010101 is not the topic's 0202020202020202",
    });
    expect(failure(parseChirpstackPublish(topic('0202020202020202', 'join'), fixture('join'))).reason).toBe('invalid_uplink');
  });

  it('refuses a topic of another shape', () => {
    expect(failure(parseChirpstackPublish('application/x/device/0101/event/up', fixture('up')))).toEqual({
      reason: 'invalid_topic',
      message: 'topic: not application/{applicationId}/device/{devEui}/event/{event}, got "application/x/device/0101/event/up"',
    });
  });
});
