import { describe, expect, it } from 'vitest';
import {
  PacketReader,
  PacketType,
  decodePublish5,
  encodeConnect,
  encodeConnect5,
  encodePuback5,
  encodePublish,
  encodeSubscribe5,
  mqttString,
  subackReasons5,
} from './mqtt-wire.js';

function collect(chunks: Buffer[]): { type: number; body: Buffer; flags: number }[] {
  const reader = new PacketReader();
  const out: { type: number; body: Buffer; flags: number }[] = [];
  for (const c of chunks) reader.push(c, (type, body, flags) => out.push({ type, body: Buffer.from(body), flags }));
  return out;
}

describe('bench MQTT wire format', () => {
  it('encodes a QoS 1 PUBLISH with a multi-byte remaining length that reads back field for field', () => {
    const payload = 'x'.repeat(300);
    const packet = encodePublish(mqttString('city/waste-bin/b1/telemetry'), payload, 1, 0xbeef);
    expect(packet[0]).toBe(0x32);
    // 2 + 27 topic bytes + 2 packet id + 300 payload = 331 = 0xCB 0x02 as a varint.
    expect([packet[1], packet[2]]).toEqual([0xcb, 0x02]);
    const [p] = collect([packet]);
    expect(p!.type).toBe(PacketType.PUBLISH);
    const topicLength = p!.body.readUInt16BE(0);
    expect(p!.body.subarray(2, 2 + topicLength).toString()).toBe('city/waste-bin/b1/telemetry');
    expect(p!.body.readUInt16BE(2 + topicLength)).toBe(0xbeef);
    expect(p!.body.subarray(4 + topicLength).toString()).toBe(payload);
  });

  it('omits the packet id at QoS 0', () => {
    const packet = encodePublish(mqttString('t'), '{}', 0, 7);
    expect([...packet]).toEqual([0x30, 5, 0, 1, 0x74, 0x7b, 0x7d]);
  });

  it('encodes CONNECT flags for clean session, will (QoS 1, retained), username and password', () => {
    const packet = encodeConnect({
      clientId: 'd1',
      username: 'd1',
      password: 's3cret',
      keepaliveS: 60,
      clean: true,
      will: { topic: 'city/waste-bin/d1/status', payload: 'offline', qos: 1, retain: true },
    });
    const [p] = collect([packet]);
    expect(p!.type).toBe(PacketType.CONNECT);
    expect(p!.body.subarray(0, 7)).toEqual(Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4]));
    expect(p!.body[7]).toBe(0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02);
    expect(p!.body.readUInt16BE(8)).toBe(60);
  });

  it('reassembles packets split across chunks and splits several packets in one chunk', () => {
    const puback = Buffer.from([0x40, 2, 0, 9]);
    const connack = Buffer.from([0x20, 2, 0, 0]);
    const pingresp = Buffer.from([0xd0, 0]);
    const stream = Buffer.concat([connack, puback, pingresp, puback]);
    for (let cut = 1; cut < stream.length; cut++) {
      const got = collect([stream.subarray(0, cut), stream.subarray(cut)]);
      expect(got.map((g) => g.type)).toEqual([PacketType.CONNACK, PacketType.PUBACK, PacketType.PINGRESP, PacketType.PUBACK]);
      expect(got[1]!.body.readUInt16BE(0)).toBe(9);
    }
  });

  describe('MQTT 5, the consuming side', () => {
    it('CONNECT: protocol level 5, Clean Start, an empty property list before the client id', () => {
      const [p] = collect([encodeConnect5({ clientId: 'bench-consumer-1', keepaliveS: 0 })]);
      expect(p!.type).toBe(PacketType.CONNECT);
      expect([...p!.body.subarray(0, 11)]).toEqual([0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0x02, 0, 0, 0]);
      expect(p!.body.subarray(11)).toEqual(mqttString('bench-consumer-1'));
    });

    it('SUBSCRIBE: reserved flags 0b0010, packet id, no properties, the filter and maximum QoS 1', () => {
      const packet = encodeSubscribe5(7, '$share/citypipe/city/+/+/telemetry');
      expect(packet[0]).toBe(0x82);
      const [p] = collect([packet]);
      expect([...p!.body.subarray(0, 3)]).toEqual([0, 7, 0]);
      expect(p!.body.subarray(3, -1)).toEqual(mqttString('$share/citypipe/city/+/+/telemetry'));
      expect(p!.body.at(-1)).toBe(0x01);
    });

    it('PUBLISH: topic, packet id and QoS from the flags; the payload after properties of any length', () => {
      const topic = mqttString('city/waste-bin/b1/telemetry');
      const payload = Buffer.from('{"fillPct":42}');
      // A subscription identifier (0x0B, varint 300) and a user property ("k" = "v"): 1 + 2 + 1 + 3 + 3 bytes.
      const props = Buffer.from([0x0b, 0xac, 0x02, 0x26, 0, 1, 0x6b, 0, 1, 0x76]);
      const body = Buffer.concat([topic, Buffer.from([0x12, 0x34, props.length]), props, payload]);
      const wire = Buffer.concat([Buffer.from([0x32, body.length]), body]);
      const [p] = collect([wire]);
      const got = decodePublish5(p!.body, p!.flags);
      expect(got.topic).toBe('city/waste-bin/b1/telemetry');
      expect(got.qos).toBe(1);
      expect(got.packetId).toBe(0x1234);
      expect(got.payload.toString()).toBe('{"fillPct":42}');
      // QoS 0 has no packet id.
      const q0 = decodePublish5(Buffer.concat([topic, Buffer.from([0]), payload]), 0);
      expect([q0.qos, q0.packetId, q0.payload.toString()]).toEqual([0, 0, '{"fillPct":42}']);
    });

    it('PUBACK with packet id only (success); SUBACK reason codes after its properties', () => {
      expect([...encodePuback5(0xbeef)]).toEqual([0x40, 2, 0xbe, 0xef]);
      // Packet id 1, a reason string property (0x1f, "ok"), granted QoS 1.
      expect(subackReasons5(Buffer.from([0, 1, 5, 0x1f, 0, 2, 0x6f, 0x6b, 0x01]))).toEqual([1]);
      expect(subackReasons5(Buffer.from([0, 1, 0, 0x80]))).toEqual([0x80]);
    });
  });
});
