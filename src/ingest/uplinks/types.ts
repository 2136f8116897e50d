/**
 * What a LoRaWAN network server's message becomes (CONTRACT §7), whichever server sent it. The
 * parsers (`chirpstack.ts`, `tts.ts`) only read the servers' formats; finding the device by DevEUI,
 * decoding the bytes with the model's codec and deduplicating are the caller's.
 */

/** The network servers citypipe reads. */
export type NetworkServer = 'chirpstack' | 'tts';

/** An uplink carrying application data. */
export interface UplinkUp {
  readonly kind: 'up';
  readonly server: NetworkServer;
  /** 16 lowercase hex digits. */
  readonly devEui: string;
  /**
   * LoRaWAN FPort, 1..255. `undefined` only when the server omitted it and sent no bytes either (a
   * message filtered down to its decoded object): the caller has no bytes to decode on a port then.
   */
  readonly fPort: number | undefined;
  /** The FRMPayload, or `undefined` when the server did not send it. */
  readonly bytes: Uint8Array | undefined;
  /** The server's own decoded object; the caller uses it only when `bytes` is `undefined`. */
  readonly decoded: Readonly<Record<string, unknown>> | undefined;
  /** Epoch ms at which the network server received the uplink. */
  readonly receivedAtMs: number;
  /** The frame counter (FCntUp); the servers omit zero, so absent means 0. */
  readonly fCnt: number;
  /** Strongest RSSI (dBm) over the gateways that heard the uplink; `undefined` when none reported one. */
  readonly rssi: number | undefined;
  /**
   * The same uplink delivered twice has the same key: ChirpStack's `deduplicationId`, else
   * `{devEui}:{fCnt}:{receivedAtMs}`.
   */
  readonly dedupKey: string;
}

/** ChirpStack's `status` event: the device's answer to a DevStatusReq (battery and link margin). */
export interface UplinkStatus {
  readonly kind: 'status';
  readonly server: 'chirpstack';
  readonly devEui: string;
  readonly receivedAtMs: number;
  /** 0..100; `undefined` when the device is on external power or cannot measure its battery. */
  readonly batteryPercent: number | undefined;
  readonly externalPower: boolean;
}

/** ChirpStack's `log` event with code `UPLINK_CODEC`: its device-profile codec failed on an uplink. */
export interface UplinkCodecError {
  readonly kind: 'codec-error';
  readonly server: 'chirpstack';
  readonly devEui: string;
  readonly receivedAtMs: number;
  /** ChirpStack's message, e.g. `JS error: Error: foo is not defined …`. */
  readonly description: string;
  /** The `deduplicationId` of the uplink the codec failed on (the log's `context`), when given. */
  readonly deduplicationId: string | undefined;
}

/** A well-formed message that carries no reading (a join, a downlink acknowledgement, another log). */
export interface UplinkIgnored {
  readonly kind: 'ignored';
  readonly server: NetworkServer;
  /** The device's DevEUI when the message names a valid one. */
  readonly devEui: string | undefined;
  /** E.g. `join event`, `log event UPLINK_MIC`, `join_accept message`. */
  readonly why: string;
}

/** One network-server message, normalised. */
export type UplinkEvent = UplinkUp | UplinkStatus | UplinkCodecError | UplinkIgnored;

/** Why a message could not be read; the names match dead-letter reasons of `errors/catalog.ts`. */
export type UplinkProblem = 'invalid_topic' | 'invalid_json' | 'invalid_uplink';

/** A parser's answer: never a throw, whatever the bytes. */
export type ParseResult =
  | { readonly ok: true; readonly event: UplinkEvent }
  | {
      readonly ok: false;
      readonly reason: UplinkProblem;
      /** Starts with the field path in the server's own names, e.g. `deviceInfo.devEui: missing`. */
      readonly message: string;
    };
