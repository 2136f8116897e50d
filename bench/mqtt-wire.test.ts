import { describe, expect, it } from 'vitest';
import { PacketReader, PacketType, encodeConnect, encodePublish, mqttString } from './mqtt-wire.js';

function collect(chunks: Buffer[]): { type: number; body: Buffer }[] {
  const reader = new PacketReader();
  const out: { type: number; body: Buffer }[] = [];
  for (const c of chunks) reader.push(c, (type, body) => out.push({ type, body: Buffer.from(body) }));
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
});
