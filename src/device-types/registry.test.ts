/**
 * The registry and every type it lists. The per-type checks are the type contract
 * (`testing/type-contract.ts`): it fails, naming the piece, when a registered type lacks a file of its
 * folder, a README line, fixture coverage, a valid model, fleet defaults or a bench payload.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceTypeModule } from './module.js';
import { deviceType, deviceTypeModule, deviceTypeModules, deviceTypes, lorawanModel, lorawanModels } from './registry.js';
import { typeFolder } from './testing/fixtures.js';
import { describeDeviceType } from './testing/type-contract.js';
import { existsSync } from 'node:fs';
import { MODEL_FOLDER_FILES } from './testing/codec-contract.js';

describe('the registry', () => {
  it('has unique type names, measurements, generated id parts and demo files', () => {
    const keys: ((m: DeviceTypeModule) => string)[] = [(m) => m.definition.name, (m) => m.definition.measurement, (m) => m.fleet.idPart, (m) => m.demo.file];
    for (const key of keys) {
      const values = deviceTypeModules.map(key);
      expect(new Set(values).size).toBe(values.length);
    }
  });

  it('finds every type by its name, and nothing else', () => {
    for (const def of deviceTypes) expect(deviceType(def.name)).toBe(def);
    for (const mod of deviceTypeModules) expect(deviceTypeModule(mod.definition.name)).toBe(mod);
    expect(deviceType('constructor')).toBeUndefined();
    expect(deviceType('__proto__')).toBeUndefined();
    expect(deviceTypeModule('__proto__')).toBeUndefined();
  });

  it('has unique LoRaWAN model names, each found by its name', () => {
    const names = deviceTypeModules.flatMap((m) => (m.lorawan?.models ?? []).map((x) => x.name));
    expect(new Set(names).size).toBe(names.length);
    for (const r of lorawanModels) expect(lorawanModel(r.model.name)).toBe(r);
    expect(lorawanModel('__proto__')).toBeUndefined();
  });

  it('has no two demo devices with the same id', () => {
    const ids = deviceTypeModules.flatMap((m) => m.demo.devices.map((d) => d.id));
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });
});

for (const mod of deviceTypeModules) describeDeviceType(mod, typeFolder(mod.definition.name));

describe('every registered LoRaWAN model', () => {
  // Each model folder's codec.test.ts runs the codec contract (testing/codec-contract.ts) on it.
  it.each(lorawanModels.map((r) => [r.model.name, r] as const))('%s has its folder, with every file the contract names', (_name, { model, type }) => {
    const folder = new URL(`models/${model.name}/`, typeFolder(type.definition.name));
    for (const file of MODEL_FOLDER_FILES) expect(existsSync(new URL(file, folder)), `${type.definition.name}/models/${model.name}/${file}`).toBe(true);
  });
});
