import { describe, expect, it } from 'vitest';
import { DeviceCatalog } from '../src/catalog/catalog.js';
import { verifySecretAsync } from '../src/catalog/secrets.js';
import { cities } from './cities.js';
import { generateFleet } from './generate-fleet.js';
import { deviceTypeModule, deviceTypeModules, deviceTypeNames } from '../src/device-types/registry.js';
import { expectFleetShares } from '../src/device-types/testing/type-contract.js';
import { modelFor } from './index.js';
import { deviceSeed, mulberry32 } from './prng.js';

/** Stands in for scrypt where the hash itself is not under test. */
const cheapHash = async (secret: string) => `scrypt$1024$8$1$c2FsdHNhbHQ$${Buffer.from(secret).toString('base64url')}`;
const AMSTERDAM_DISTRICTS = ['centrum', 'west', 'oost', 'zuid', 'noord', 'nieuw-west', 'zuidoost'];

/** CPU time this process (all its threads) spent since `since`, in ms. */
function cpuMs(since: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / 1000;
}

function kmBetween(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const north = (a.lat - b.lat) * 110.574;
  const east = (a.lon - b.lon) * 111.32 * Math.cos((a.lat * Math.PI) / 180);
  return Math.hypot(north, east);
}

describe('generateFleet', () => {
  it('makes 20 000 valid devices over K districts, every type in its share, in well under a few seconds (hashing aside)', async () => {
    const started = Date.now();
    const cpu = process.cpuUsage();
    const fleet = await generateFleet({ count: 20_000, districts: 12, seed: 4, hash: cheapHash });
    // ~0.5 s of CPU. The bound is on this process's CPU time, which other processes on a busy
    // machine do not stretch; the wall-clock bound only catches waiting, and is loose for that reason.
    expect(cpuMs(cpu)).toBeLessThan(3_000);
    expect(Date.now() - started).toBeLessThan(20_000);

    const catalog = DeviceCatalog.fromRecords(fleet.records, 'generated');
    expect(catalog.size).toBe(20_000);
    expectFleetShares(fleet.records, deviceTypeModules);

    // Amsterdam's seven real stadsdelen first, then generated ones; every district has every type.
    expect(fleet.districts.map((d) => d.name)).toEqual([...AMSTERDAM_DISTRICTS, 'district-08', 'district-09', 'district-10', 'district-11', 'district-12']);
    for (const d of fleet.districts) {
      const here = fleet.records.filter((r) => r.district === d.name);
      expect(here.length, d.name).toBeGreaterThanOrEqual(1600);
      expect(here.length, d.name).toBeLessThanOrEqual(1700);
      expect(new Set(here.map((r) => r.type)), d.name).toEqual(new Set(deviceTypeNames));
    }
    const city = cities['amsterdam']!;
    for (const r of fleet.records) {
      // Zuidoost's centre lies 8.7 km out (1.08 radii) and a device scatters up to 2.5 σ on each axis
      // (σ = 0.5 radius / √12 districts): at most 1.59 radii from the centre, whatever the seed's draws.
      expect(kmBetween(r.location, city), r.id).toBeLessThan(city.radiusKm * 1.6);
      expect(r.attributes['timeZone']).toBe('Europe/Amsterdam');
      expect(r.secretHash).toBeDefined();
    }
    for (const r of fleet.records.slice(0, 100)) expect(r.id).toMatch(new RegExp(`^ams-${deviceTypeModule(r.type)!.fleet.idPart}-\\d{5}$`));
  });

  it('gives every device an attribute set the models and rules read, and readings that validate', async () => {
    const fleet = await generateFleet({ count: 300, districts: 5, seed: 2, city: cities['berlin']!, hash: cheapHash });
    const start = Date.parse('2026-01-13T00:00:00Z');
    for (const r of fleet.records) {
      expect(r.attributes['timeZone']).toBe('Europe/Berlin');
      expect(kmBetween(r.location, cities['berlin']!)).toBeLessThan(25);
      // Which attributes each type gets is its fleet defaults' business (the type contract checks them).
      expect(Object.keys(r.attributes).length, r.id).toBeGreaterThan(1);
      const model = modelFor(r.type)!;
      const sim = model.create(r, mulberry32(deviceSeed(1, r.id)), start);
      for (let t = start; t < start + 6 * 3_600_000; t += r.reportingIntervalS * 1000) {
        const parsed = model.type.schema.safeParse(sim.next(t));
        expect(parsed.success, r.id).toBe(true);
      }
    }
    expect(new Set(fleet.districts.map((d) => d.name))).toEqual(new Set(['district-1', 'district-2', 'district-3', 'district-4', 'district-5']));
    expect(fleet.districts[0]!.areaKind).toBe('centre');
  });

  it('is the same fleet for the same seed (but for the secrets), another for another seed', async () => {
    const strip = (f: Awaited<ReturnType<typeof generateFleet>>) => f.records.map(({ secretHash: _h, ...rest }) => rest);
    const a = await generateFleet({ count: 200, districts: 4, seed: 11, hash: cheapHash });
    const b = await generateFleet({ count: 200, districts: 4, seed: 11, hash: cheapHash });
    const c = await generateFleet({ count: 200, districts: 4, seed: 12, hash: cheapHash });
    expect(strip(a)).toEqual(strip(b));
    expect(strip(a)).not.toEqual(strip(c));
    expect(a.credentials).not.toEqual(b.credentials);
  });

  it('stores scrypt hashes that match the plaintext credentials, hashed in parallel', async () => {
    const started = Date.now();
    const cpu = process.cpuUsage();
    const fleet = await generateFleet({ count: 400, districts: 3, seed: 1 });
    // ~1.7 ms of CPU a hash (~0.7 s for 400), spread over the thread pool: 20 000 devices in ~20 s
    // on two cores. CPU time (the pool's threads included) is what a password-grade hash would
    // blow; a busy machine stretches only the wall-clock time, so that bound is loose.
    expect(cpuMs(cpu)).toBeLessThan(4_000);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(Object.keys(fleet.credentials).sort()).toEqual(fleet.records.map((r) => r.id).sort());
    const checks = await Promise.all(fleet.records.map((r) => verifySecretAsync(fleet.credentials[r.id]!, r.secretHash!)));
    expect(checks.every(Boolean)).toBe(true);
    // And not some other device's.
    const [first, second] = fleet.records;
    expect(await verifySecretAsync(fleet.credentials[second!.id]!, first!.secretHash!)).toBe(false);
  });

  it('refuses counts and district numbers out of range', async () => {
    await expect(generateFleet({ count: 0, districts: 1 })).rejects.toThrow('count: expected a whole number 1..200000');
    await expect(generateFleet({ count: 10, districts: 11 })).rejects.toThrow('districts: expected a whole number 1..count (10)');
    await expect(generateFleet({ count: 2.5, districts: 1 })).rejects.toThrow('count');
  });
});
