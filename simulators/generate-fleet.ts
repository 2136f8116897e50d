/**
 * A generated device catalog: N devices of all three types spread over K districts around a real
 * city, with the attributes the behaviour models and the rules read, and a fresh secret per device.
 *
 * Everything but the secrets follows from the seed, so the same command gives the same fleet. The
 * cost is the secrets: each is stored as a scrypt hash (~1 ms of CPU each; see SCRYPT_PARAMS), made
 * on the libuv thread pool several at a time, so 20 000 devices take about 20 s on two cores.
 */
import { generateSecret, hashSecretAsync } from '../src/catalog/secrets.js';
import type { DeviceRecord } from '../src/catalog/types.js';
import type { DeviceTypeName } from '../src/device-types/registry.js';
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
  /** Share of each type; default 45 % bins, 40 % streetlights, 15 % parking meters. */
  mix?: Readonly<Record<DeviceTypeName, number>>;
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

const DEFAULT_MIX: Readonly<Record<DeviceTypeName, number>> = { 'waste-bin': 0.45, streetlight: 0.4, 'parking-meter': 0.15 };
const ID_PART: Readonly<Record<DeviceTypeName, string>> = { 'waste-bin': 'bin', streetlight: 'light', 'parking-meter': 'meter' };
/** As the demo fleet: bins every 15 min, meters every 5, lights every 10. */
const INTERVAL_S: Readonly<Record<DeviceTypeName, number>> = { 'waste-bin': 900, streetlight: 600, 'parking-meter': 300 };

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
  const types = shuffledTypes(rng, count, opts.mix ?? DEFAULT_MIX);
  const districtRadiusKm = (0.5 * city.radiusKm) / Math.sqrt(k);

  const perType: Partial<Record<DeviceTypeName, number>> = {};
  const width = Math.max(5, String(count).length);
  const records: DeviceRecord[] = types.map((type, i) => {
    const district = districts[i % k] as GeneratedDistrict;
    const n = (perType[type] = (perType[type] ?? 0) + 1);
    const location = scatter(rng, district, districtRadiusKm);
    const fromCentreKm = distanceKm(city, location);
    return {
      id: `${city.code}-${ID_PART[type]}-${String(n).padStart(width, '0')}`,
      type,
      location,
      district: district.name,
      address: `Sim Street ${1 + Math.floor(rng() * 400)}, ${district.name}`,
      reportingIntervalS: INTERVAL_S[type],
      attributes: { timeZone: city.timeZone, ...attributesFor(type, rng, district, fromCentreKm / city.radiusKm) },
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

/** Exactly the mix's share of each type (largest remainder), in a seeded random order. */
function shuffledTypes(rng: Rng, count: number, mix: Readonly<Record<DeviceTypeName, number>>): DeviceTypeName[] {
  const entries = Object.entries(mix) as [DeviceTypeName, number][];
  const total = entries.reduce((s, [, w]) => s + w, 0);
  const exact = entries.map(([t, w]) => [t, (count * w) / total] as const);
  const counts = new Map(exact.map(([t, x]) => [t, Math.floor(x)]));
  let left = count - [...counts.values()].reduce((a, b) => a + b, 0);
  for (const [t] of [...exact].sort((a, b) => (b[1] % 1) - (a[1] % 1))) {
    if (left-- <= 0) break;
    counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  const types: DeviceTypeName[] = [];
  for (const [t, n] of counts) for (let i = 0; i < n; i++) types.push(t);
  for (let i = types.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [types[i], types[j]] = [types[j] as DeviceTypeName, types[i] as DeviceTypeName];
  }
  return types;
}

/** The attributes the models and the rules read, varied the way a real city's stock varies. */
function attributesFor(type: DeviceTypeName, rng: Rng, district: GeneratedDistrict, rel: number): Record<string, string | number> {
  switch (type) {
    case 'waste-bin':
      return {
        binCapacity: pick(rng, [
          [240, 0.35],
          [1100, 0.35],
          [3000, 0.2],
          [5000, 0.1],
        ]),
        wasteKind: pick(rng, [
          ['residual', 0.4],
          ['paper', 0.2],
          ['plastic', 0.15],
          ['glass', 0.1],
          ['organic', 0.1],
          ['textile', 0.05],
        ]),
        areaKind: district.areaKind,
        footfall: district.footfall,
      };
    case 'parking-meter':
      return {
        // Dearer towards the centre.
        tariffZone: rel < 0.25 ? '1' : rel < 0.5 ? '2' : rel < 0.8 ? '3' : '4',
        bays: 4 + Math.floor(rng() * 27),
        footfall: district.footfall,
      };
    case 'streetlight': {
      const lampType = pick(rng, [
        ['LED', 0.75],
        ['HPS', 0.2],
        ['MH', 0.05],
      ]);
      const [dimFromH, dimUntilH] = pick(rng, [
        [[0, 6], 0.5],
        [[23, 5], 0.25],
        [[1, 5], 0.15],
        [[22, 6], 0.1],
      ]);
      return {
        lampType,
        powerRating: lampType === 'LED' ? pick(rng, [[35, 0.3], [45, 0.3], [60, 0.3], [100, 0.1]]) : pick(rng, [[70, 0.5], [100, 0.3], [150, 0.2]]),
        dimFromH,
        dimUntilH,
      };
    }
  }
}

function pick<T>(rng: Rng, options: ReadonlyArray<readonly [T, number]>): T {
  let x = rng() * options.reduce((s, [, w]) => s + w, 0);
  for (const [v, w] of options) {
    x -= w;
    if (x < 0) return v;
  }
  return (options.at(-1) as readonly [T, number])[0];
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
