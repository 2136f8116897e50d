import { describe, expect, it } from 'vitest';
import { modelRegistryOf } from '../record-problems.js';
import { attributeKey, catalogIdFor, mapExportedDevice, type ExportedDevice } from './exported-device.js';

describe('catalogIdFor', () => {
  it.each([
    ['bin-damrak-14', 'bin-damrak-14'],
    ['Bin Dam 1', 'Bin-Dam-1'],
    ['ldds75 / Nieuwmarkt', 'ldds75-Nieuwmarkt'],
    ['  (spare) ', 'spare'],
    ['Afvalbak Spuistraat №3', 'Afvalbak-Spuistraat-3'],
    ['x'.repeat(70), 'x'.repeat(64)],
    [`${'y'.repeat(63)} z`, 'y'.repeat(63)],
    ['///', 'eui-24e124713c215987'],
    [undefined, 'eui-24e124713c215987'],
  ])('%j → %s', (name, id) => {
    expect(catalogIdFor(name, '24e124713c215987')).toBe(id);
    expect(id).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
  });
});

describe('attributeKey', () => {
  it.each([
    ['container-depth-mm', 'containerDepthMm'],
    ['container_depth_mm', 'containerDepthMm'],
    ['containerDepthMm', 'containerDepthMm'],
    ['zone', 'zone'],
    ['Max-Stay-Min', 'maxStayMin'],
  ])('%s → %s', (key, expected) => expect(attributeKey(key)).toBe(expected));
});

describe('mapExportedDevice', () => {
  const models = modelRegistryOf([{ name: 'dragino-ldds75', type: 'waste-bin' }]);
  const device = (extra: Partial<ExportedDevice>): ExportedDevice => ({
    row: 2,
    name: 'bin-1',
    devEui: 'A8-40-41-00-01-81-C5-F1',
    location: { lat: 52.37, lon: 4.9 },
    properties: {},
    ...extra,
  });

  it('puts the command line defaults beneath what the device says', () => {
    const mapped = mapExportedDevice(
      device({ properties: { district: 'west', 'container-depth-mm': '980', binCapacity: '' } }),
      { district: 'centrum', model: 'dragino-ldds75', reportingIntervalS: 3600, attributes: { containerDepthMm: 1200, owner: 'city' } },
      models,
      'give it one',
    );
    expect(mapped).toEqual({
      ok: true,
      device: {
        id: 'bin-1',
        type: 'waste-bin',
        location: { lat: 52.37, lon: 4.9 },
        district: 'west',
        reportingIntervalS: 3600,
        attributes: { containerDepthMm: 980, owner: 'city' },
        lorawan: { devEui: 'a84041000181c5f1', model: 'dragino-ldds75' },
      },
    });
  });

  it('lists everything a device lacks at once', () => {
    const mapped = mapExportedDevice(device({ devEui: undefined, location: undefined, properties: { latitude: 'north', longitude: '4.9' } }), {}, models, 'give it one');
    expect(mapped).toEqual({
      ok: false,
      problems: [
        'no DevEUI',
        'no LoRaWAN model: give the device a model tag, or pass --model (known: dragino-ldds75)',
        'no district: give the device a district tag, or pass --district',
        'latitude/longitude: expected decimal degrees, got "north", "4.9"',
      ],
    });
  });
});
