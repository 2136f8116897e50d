/**
 * What a LoRaWAN network server sends citypipe for an uplink, in its own JSON (CONTRACT §7), for the
 * simulator, the demo, the bench and the tests: ChirpStack v4 events (Protobuf-JSON: camelCase,
 * base64 bytes, RFC 3339 times with nanoseconds) and The Things Stack v3 `ApplicationUp` (snake_case,
 * upper-case EUIs, zero values omitted). The shapes follow the servers' documented examples (the
 * parsers' fixtures in `src/ingest/uplinks/fixtures/`).
 */
import { randomUUID } from 'node:crypto';

export interface SimulatedUplink {
  /** 16 hex digits. */
  devEui: string;
  fPort: number;
  bytes: Uint8Array;
  fCnt: number;
  /** When the network server received it, epoch ms. */
  timeMs: number;
  rssi?: number;
  /** ChirpStack's deduplicationId; a new UUID when not given. */
  deduplicationId?: string;
  applicationId?: string;
}

/** RFC 3339 with nanoseconds and an offset, as ChirpStack writes times. */
function chirpstackTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000+00:00');
}

const APPLICATION_ID = '17c82e96-be03-4f38-aef3-f83d48582d97';

function deviceInfo(devEui: string, applicationId = APPLICATION_ID): Record<string, unknown> {
  return {
    tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242',
    tenantName: 'ChirpStack',
    applicationId,
    applicationName: 'citypipe sensors',
    deviceProfileId: '14855bf7-d10d-4aee-b618-ebfcb64dc7ad',
    deviceProfileName: 'LoRaWAN sensor',
    deviceName: devEui,
    devEui: devEui.toLowerCase(),
  };
}

/** The MQTT topic ChirpStack publishes an event of this device on. */
export function chirpstackTopic(devEui: string, event: string, applicationId = APPLICATION_ID): string {
  return `application/${applicationId}/device/${devEui.toLowerCase()}/event/${event}`;
}

/** ChirpStack v4's `up` event. */
export function chirpstackUp(u: SimulatedUplink): string {
  return JSON.stringify({
    deduplicationId: u.deduplicationId ?? randomUUID(),
    time: chirpstackTime(u.timeMs),
    deviceInfo: deviceInfo(u.devEui, u.applicationId),
    devAddr: '00189440',
    adr: true,
    dr: 5,
    fCnt: u.fCnt,
    fPort: u.fPort,
    confirmed: false,
    data: Buffer.from(u.bytes).toString('base64'),
    rxInfo: [
      { gatewayId: '0016c001f153a14c', uplinkId: 4217106255, rssi: u.rssi ?? -97, snr: 7.5, context: 'E3OWOQ==', metadata: { region_name: 'eu868', region_common_name: 'EU868' } },
      { gatewayId: '0016c001f153a14d', uplinkId: 1021201, rssi: (u.rssi ?? -97) - 12, snr: 1.25, context: 'E3OWOQ==' },
    ],
    txInfo: { frequency: 867100000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 9, codeRate: 'CR_4_5' } } },
  });
}

/** ChirpStack v4's `status` event (the device's answer to DevStatusReq). */
export function chirpstackStatus(devEui: string, timeMs: number, batteryPercent: number): string {
  return JSON.stringify({ deduplicationId: randomUUID(), time: chirpstackTime(timeMs), deviceInfo: deviceInfo(devEui), margin: 10, batteryLevel: batteryPercent });
}

/** ChirpStack v4's `log` event with code UPLINK_CODEC: its device-profile codec failed. */
export function chirpstackCodecLog(devEui: string, timeMs: number, description: string): string {
  return JSON.stringify({ time: chirpstackTime(timeMs), deviceInfo: deviceInfo(devEui), level: 'ERROR', code: 'UPLINK_CODEC', description, context: { deduplication_id: randomUUID() } });
}

/** The Things Stack v3's `ApplicationUp` with an uplink message (what its webhook and MQTT server send). */
export function ttsUp(u: SimulatedUplink, applicationId = 'citypipe-sensors'): string {
  const at = new Date(u.timeMs).toISOString().replace(/Z$/, '123Z');
  const eui = u.devEui.toUpperCase();
  return JSON.stringify({
    end_device_ids: { device_id: `eui-${u.devEui.toLowerCase()}`, application_ids: { application_id: applicationId }, dev_eui: eui, join_eui: '0000000000000000', dev_addr: '27FE87F6' },
    correlation_ids: [`gs:uplink:${randomUUID()}`],
    received_at: at,
    uplink_message: {
      session_key_id: 'aAixKtmNZUKQXd4GqpHDsw==',
      ...(u.fPort === 0 ? {} : { f_port: u.fPort }),
      ...(u.fCnt === 0 ? {} : { f_cnt: u.fCnt }),
      frm_payload: Buffer.from(u.bytes).toString('base64'),
      rx_metadata: [{ gateway_ids: { gateway_id: 'city-gw-1', eui: '58A0CBFFFE8052EC' }, time: at, rssi: u.rssi ?? -97, channel_rssi: u.rssi ?? -97, snr: 7.5, received_at: at }],
      settings: { data_rate: { lora: { bandwidth: 125000, spreading_factor: 9, coding_rate: '4/5' } }, frequency: '867700000' },
      received_at: at,
      consumed_airtime: '0.185344s',
    },
  });
}
