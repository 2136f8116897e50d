import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DeviceCatalog } from '../src/catalog/catalog.js';
import { verifySecret } from '../src/catalog/secrets.js';
import { deviceTypeModule, deviceTypeModules, deviceTypeNames, lorawanModel, lorawanModels } from '../src/device-types/registry.js';
import { modelFor } from './index.js';
import { deviceSeed, mulberry32 } from './prng.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const credentials = JSON.parse(readFileSync(path.join(root, 'simulators', 'demo-credentials.json'), 'utf8')) as Record<string, string>;
const DISTRICTS = ['centrum', 'west', 'oost', 'noord', 'zuid', 'nieuw-west', 'zuidoost'];

describe('the shipped demo fleet', async () => {
  const catalog = await DeviceCatalog.load(path.join(root, 'simulators', 'demo-fleet'));
  // Devices on their own MQTT connection; the LoRaWAN sensors (lorawan-sensors.json) come through a network server.
  const devices = catalog.all().filter((d) => d.lorawan === undefined);
  const lorawan = catalog.all().filter((d) => d.lorawan !== undefined);

  it('has one LoRaWAN sensor of every registered model, without an MQTT secret, in districts of its own', () => {
    expect(lorawan.map((d) => d.lorawan!.model).sort()).toEqual(lorawanModels.map((m) => m.model.name).sort());
    for (const d of lorawan) {
      expect(d.type, d.id).toBe(lorawanModel(d.lorawan!.model)!.type.definition.name);
      expect(d.secretHash, d.id).toBeUndefined();
      expect(catalog.fileOf(d.id)).toBe(path.join(root, 'simulators', 'demo-fleet', 'lorawan-sensors.json'));
      expect(DISTRICTS).toContain(d.district);
    }
  });

  it('is a dozen or so devices of every type across all of Amsterdam’s districts', () => {
    // Small enough for a laptop's demo, large enough that every board has several devices per type.
    expect(devices.length).toBeGreaterThanOrEqual(8 * deviceTypeModules.length);
    expect(devices.length).toBeLessThanOrEqual(16 * deviceTypeModules.length);
    expect(new Set(devices.map((d) => d.district))).toEqual(new Set(DISTRICTS));
    expect(new Set(devices.map((d) => d.type))).toEqual(new Set(deviceTypeNames));
    for (const d of devices) {
      expect(d.location.lat, d.id).toBeGreaterThan(52.27);
      expect(d.location.lat, d.id).toBeLessThan(52.44);
      expect(d.location.lon, d.id).toBeGreaterThan(4.72);
      expect(d.location.lon, d.id).toBeLessThan(5.08);
      expect(d.address, d.id).toMatch(/\S+ \d+/);
    }
  });

  it('is what the types’ demo.ts declare, each in its type’s file at its type’s interval (make-demo-fleet was run)', () => {
    expect(devices.map((d) => d.id).sort()).toEqual(deviceTypeModules.flatMap((m) => m.demo.devices.map((s) => s.id)).sort());
    for (const d of devices) {
      const mod = deviceTypeModule(d.type)!;
      const spec = mod.demo.devices.find((s) => s.id === d.id);
      expect(spec, `${d.id} is a ${d.type} demo device`).toBeDefined();
      expect(catalog.fileOf(d.id)).toBe(path.join(root, 'simulators', 'demo-fleet', mod.demo.file));
      expect(d).toMatchObject({
        reportingIntervalS: mod.fleet.reportingIntervalS,
        district: spec!.district,
        address: spec!.address,
        location: { lat: spec!.lat, lon: spec!.lon },
        attributes: spec!.attributes,
      });
    }
  });

  it('has a demo secret for every device, matching its stored hash, and nothing else', () => {
    expect(Object.keys(credentials).sort()).toEqual(devices.map((d) => d.id).sort());
    for (const d of devices) {
      expect(d.secretHash, d.id).toBeDefined();
      expect(verifySecret(credentials[d.id]!, d.secretHash!), d.id).toBe(true);
    }
  });

  it('simulates a day of valid readings for every device', () => {
    const start = Date.parse('2024-03-15T00:00:00+01:00');
    for (const d of devices) {
      const model = modelFor(d.type)!;
      const sim = model.create(d, mulberry32(deviceSeed(1, d.id)), start);
      for (let t = start; t < start + 24 * 3_600_000; t += d.reportingIntervalS * 1000) {
        const r = model.type.schema.safeParse(sim.next(t));
        expect(r.success, `${d.id} at ${new Date(t).toISOString()}`).toBe(true);
      }
    }
  });
});
