/**
 * A generated device catalog: N devices of every registered type spread over K districts around a
 * real city, with the attributes the behaviour models and the rules read, and a fresh secret per
 * device. What a device of each type looks like (id, share, interval, attributes) is the type's
 * fleet defaults (`src/device-types/<type>/fleet.ts`).
 *
 * Everything but the secrets follows from the seed, so the same command gives the same fleet. The
 * cost is the secrets: each is stored as a scrypt hash (~1 ms of CPU each; see SCRYPT_PARAMS), made
 * on the libuv thread pool several at a time, so 20 000 devices take about 20 s on two cores.
 */
import { generateSecret, hashSecretAsync } from '../src/catalog/secrets.js';
import type { DeviceRecord } from '../src/catalog/types.js';
import { deviceTypeModules, type DeviceTypeName } from '../src/device-types/registry.js';
import type { DeviceTypeModule } from '../src/device-types/module.js';
import { cities, type AreaKind, type City } from './cities.js';
import { mulberry32, normal, type Rng } from './prng.js';

/** Options of {@link generateFleet}. */
export interface GenerateFleetOptions {
  /** Devices, 1 … {@link MAX_GENERATED_DEVICES}. */
  count: number;
  /** Districts, 1 … count. */
  districts: number;
  /** Default 1. */
  seed?: number;
  /** Default Amsterdam. */
  city?: City;
  /** Share of each type (weights), dealt out in this order; default every type's `fleet.share`, largest first. */
  mix?: Readonly<Partial<Record<DeviceTypeName, number>>>;
  /** The device types to draw from; default the registry. */
  types?: readonly DeviceTypeModule[];
  /** Hashes a secret; default scrypt on the thread pool. Tests pass a cheap one. */
  hash?: (secret: string) => Promise<string>;
  /** Hashes under way at once; default 16 (the pool has 4 threads, this keeps them busy). */
  hashConcurrency?: number;
  /** Called after every 1000 hashes, for a progress line. */
  onProgress?: (done: number, total: number) => void;
}

/** A generated fleet. */
export interface GeneratedFleet {
  /** Catalog records, each with its `secretHash`. */
  readonly records: DeviceRecord[];
  /** Device id → plaintext secret: for the simulator only. */
  readonly credentials: Record<string, string>;
  /** The districts, in generation order. */
  readonly districts: readonly GeneratedDistrict[];
}

/** A district of a generated fleet. */
export interface GeneratedDistrict {
  readonly name: string;
  readonly lat: number;
  readonly lon: number;
  readonly areaKind: AreaKind;
  readonly footfall: number;
}

export const MAX_GENERATED_DEVICES = 200_000;


const KM_PER_DEG_LAT = 110.574;
const KM_PER_DEG_LON_AT_EQUATOR = 111.32;
const GOLDEN_ANGLE = Math.PI * (3 - Math.sqrt(5));

/** Generates the fleet. Throws for a count or district number out of range. */
export async function generateFleet(opts: GenerateFleetOptions): Promise<GeneratedFleet> {
  const { count, districts: k } = opts;
  if (!(Number.isInteger(count) && count >= 1 && count <= MAX_GENERATED_DEVICES)) {
    throw new Error(`count: expected a whole number 1..${MAX_GENERATED_DEVICES}, got ${count}`);
  }
  if (!(Number.isInteger(k) && k >= 1 && k <= count)) throw new Error(`districts: expected a whole number 1..count (${count}), got ${k}`);
  const city = opts.city ?? (cities['amsterdam'] as City);
  const rng = mulberry32(opts.seed ?? 1);
  const districts = makeDistricts(city, k);
  const modules = new Map((opts.types ?? deviceTypeModules).map((m) => [m.definition.name, m] as const));
  const types = shuffledTypes(rng, count, opts.mix ?? defaultMix(modules.values()));
  const districtRadiusKm = (0.5 * city.radiusKm) / Math.sqrt(k);

  const perType: Record<string, number> = {};
  const width = Math.max(5, String(count).length);
  const records: DeviceRecord[] = types.map((type, i) => {
    const district = districts[i % k] as GeneratedDistrict;
    const { fleet } = modules.get(type) ?? unknownType(type);
    const n = (perType[type] = (perType[type] ?? 0) + 1);
    const location = scatter(rng, district, districtRadiusKm);
    const fromCentreKm = distanceKm(city, location);
    return {
      id: `${city.code}-${fleet.idPart}-${String(n).padStart(width, '0')}`,
      // A registered name, or one of `opts.types` (a test's extra type, which no catalog accepts).
      type: type as DeviceTypeName,
      location,
      district: district.name,
      address: `Sim Street ${1 + Math.floor(rng() * 400)}, ${district.name}`,
      reportingIntervalS: fleet.reportingIntervalS,
      attributes: { timeZone: city.timeZone, ...fleet.attributes(rng, district, fromCentreKm / city.radiusKm) },
    };
  });

  const credentials: Record<string, string> = {};
  for (const r of records) credentials[r.id] = generateSecret();
  const hash = opts.hash ?? hashSecretAsync;
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < records.length) {
      const record = records[next++] as DeviceRecord;
      record.secretHash = await hash(credentials[record.id] as string);
      done++;
      if (done % 1000 === 0) opts.onProgress?.(done, records.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.hashConcurrency ?? 16, records.length) }, worker));
  return { records, credentials, districts };
}

/** The city's real districts first, then generated ones on a sunflower spiral out from the centre. */
function makeDistricts(city: City, k: number): GeneratedDistrict[] {
  const known = city.districts ?? [];
  const out: GeneratedDistrict[] = known.slice(0, k).map((d) => ({ ...d }));
  const width = String(k).length;
  for (let i = out.length; i < k; i++) {
    // Evenly spread over the disc: radius ∝ √i, turning by the golden angle.
    const r = city.radiusKm * 0.9 * Math.sqrt((i + 0.5) / k);
    const theta = i * GOLDEN_ANGLE;
    const { lat, lon } = offset(city, r * Math.cos(theta), r * Math.sin(theta));
    const rel = r / city.radiusKm;
    const areaKind: AreaKind = i === 0 ? 'centre' : i % 5 === 3 ? 'business' : 'residential';
    // Busier towards the centre: 1.5 at the heart, 0.8 at the edge.
    const footfall = round(areaKind === 'centre' ? 1.5 : 1.2 - 0.4 * rel, 2);
    out.push({ name: `district-${String(i + 1).padStart(width, '0')}`, lat, lon, areaKind, footfall });
  }
  return out;
}

/**
 * Every type's `fleet.share`, largest first (ties in registry order): the order the types are dealt
 * out in decides the fleet, so a new type with a small share leaves the others' draws as they were.
 */
function defaultMix(modules: Iterable<DeviceTypeModule>): Record<string, number> {
  const bySize = [...modules].sort((a, b) => b.fleet.share - a.fleet.share);
  return Object.fromEntries(bySize.map((m) => [m.definition.name, m.fleet.share]));
}

function unknownType(type: string): never {
  throw new Error(`mix: unknown device type ${JSON.stringify(type)}`);
}

/** Exactly the mix's share of each type (largest remainder), in a seeded random order. */
function shuffledTypes(rng: Rng, count: number, mix: Readonly<Partial<Record<string, number>>>): string[] {
  const entries = Object.entries(mix).filter((e): e is [string, number] => e[1] !== undefined);
  const total = entries.reduce((s, [, w]) => s + w, 0);
  const exact = entries.map(([t, w]) => [t, (count * w) / total] as const);
  const counts = new Map(exact.map(([t, x]) => [t, Math.floor(x)]));
  let left = count - [...counts.values()].reduce((a, b) => a + b, 0);
  for (const [t] of [...exact].sort((a, b) => (b[1] % 1) - (a[1] % 1))) {
    if (left-- <= 0) break;
    counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  const types: string[] = [];
  for (const [t, n] of counts) for (let i = 0; i < n; i++) types.push(t);
  for (let i = types.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [types[i], types[j]] = [types[j] as string, types[i] as string];
  }
  return types;
}

/** A point around the district centre: normal scatter, cut at 2.5 σ so none lands far out of town. */
function scatter(rng: Rng, at: { lat: number; lon: number }, sigmaKm: number): { lat: number; lon: number } {
  const cut = (x: number) => Math.max(-2.5, Math.min(2.5, x));
  const p = offset(at, cut(normal(rng)) * sigmaKm, cut(normal(rng)) * sigmaKm);
  return { lat: round(p.lat, 5), lon: round(p.lon, 5) };
}

function offset(at: { lat: number; lon: number }, eastKm: number, northKm: number): { lat: number; lon: number } {
  const lat = at.lat + northKm / KM_PER_DEG_LAT;
  const lon = at.lon + eastKm / (KM_PER_DEG_LON_AT_EQUATOR * Math.cos((at.lat * Math.PI) / 180));
  return { lat, lon };
}

/** Equirectangular distance: plenty for a city. */
function distanceKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const north = (b.lat - a.lat) * KM_PER_DEG_LAT;
  const east = (b.lon - a.lon) * KM_PER_DEG_LON_AT_EQUATOR * Math.cos((a.lat * Math.PI) / 180);
  return Math.hypot(north, east);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
