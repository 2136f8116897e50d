/**
 * Writes the demo fleet shipped in the repository: simulators/demo-fleet/waste-bins.json,
 * parking-meters.json and streetlights.json (records with secret hashes) and
 * simulators/demo-credentials.json (the matching plaintext secrets, demo only).
 *
 * Run from the repository root:
 *   npx tsc -p scripts/tsconfig.json && node dist/scripts-build/scripts/make-demo-fleet.js
 *
 * Existing demo secrets are kept (and their hashes too, while they still verify), so re-running
 * after editing an address does not churn every file. Delete simulators/demo-credentials.json to
 * issue new secrets for the whole fleet.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateSecret, hashSecret, verifySecret } from '../src/catalog/secrets.js';

type Attributes = Record<string, string | number>;
interface Spec {
  id: string;
  district: string;
  address: string;
  lat: number;
  lon: number;
  attributes: Attributes;
}

/** Bins at busy spots of every stadsdeel; 3000 L and larger are underground containers. */
const wasteBins: Spec[] = [
  { id: 'bin-0001', district: 'centrum', address: 'Damrak 70', lat: 52.3745, lon: 4.896, attributes: { binCapacity: 1100, wasteKind: 'residual' } },
  { id: 'bin-0002', district: 'centrum', address: 'Nieuwmarkt 4', lat: 52.3726, lon: 4.9003, attributes: { binCapacity: 240, wasteKind: 'residual' } },
  { id: 'bin-0003', district: 'centrum', address: 'Leidseplein 12', lat: 52.3642, lon: 4.8827, attributes: { binCapacity: 1100, wasteKind: 'plastic' } },
  { id: 'bin-0004', district: 'centrum', address: 'Westerstraat 120', lat: 52.3778, lon: 4.882, attributes: { binCapacity: 3000, wasteKind: 'paper' } },
  { id: 'bin-0005', district: 'west', address: 'Kinkerstraat 230', lat: 52.366, lon: 4.866, attributes: { binCapacity: 3000, wasteKind: 'residual' } },
  { id: 'bin-0006', district: 'west', address: 'Ten Katestraat 50', lat: 52.3668, lon: 4.8636, attributes: { binCapacity: 240, wasteKind: 'organic' } },
  { id: 'bin-0007', district: 'west', address: 'Bos en Lommerplein 1', lat: 52.3787, lon: 4.849, attributes: { binCapacity: 3000, wasteKind: 'glass' } },
  { id: 'bin-0008', district: 'oost', address: 'Dapperstraat 80', lat: 52.363, lon: 4.9275, attributes: { binCapacity: 1100, wasteKind: 'residual' } },
  { id: 'bin-0009', district: 'oost', address: 'Javastraat 120', lat: 52.3635, lon: 4.941, attributes: { binCapacity: 3000, wasteKind: 'plastic' } },
  { id: 'bin-0010', district: 'noord', address: 'Van der Pekstraat 40', lat: 52.389, lon: 4.9172, attributes: { binCapacity: 3000, wasteKind: 'residual' } },
  { id: 'bin-0011', district: 'noord', address: 'Buikslotermeerplein 20', lat: 52.4005, lon: 4.9325, attributes: { binCapacity: 1100, wasteKind: 'paper' } },
  { id: 'bin-0012', district: 'zuid', address: 'Albert Cuypstraat 150', lat: 52.3558, lon: 4.8937, attributes: { binCapacity: 1100, wasteKind: 'residual' } },
  { id: 'bin-0013', district: 'zuid', address: 'Van Baerlestraat 92', lat: 52.3572, lon: 4.88, attributes: { binCapacity: 240, wasteKind: 'residual' } },
  { id: 'bin-0014', district: 'nieuw-west', address: 'Osdorpplein 600', lat: 52.3583, lon: 4.801, attributes: { binCapacity: 3000, wasteKind: 'residual' } },
  { id: 'bin-0015', district: 'nieuw-west', address: "Plein '40-'45 10", lat: 52.3769, lon: 4.8113, attributes: { binCapacity: 3000, wasteKind: 'paper' } },
  { id: 'bin-0016', district: 'zuidoost', address: 'Bijlmerplein 500', lat: 52.3124, lon: 4.9518, attributes: { binCapacity: 5000, wasteKind: 'residual' } },
];

/** Meters with the bays they count; tariffZone 1 (centre, dearest) … 4 (outer districts). */
const parkingMeters: Spec[] = [
  { id: 'meter-0001', district: 'centrum', address: 'Prinsengracht 263', lat: 52.375, lon: 4.8838, attributes: { tariffZone: '1', bays: 14 } },
  { id: 'meter-0002', district: 'centrum', address: 'Keizersgracht 609', lat: 52.3636, lon: 4.891, attributes: { tariffZone: '1', bays: 10 } },
  { id: 'meter-0003', district: 'centrum', address: 'Kloveniersburgwal 50', lat: 52.3707, lon: 4.8993, attributes: { tariffZone: '1', bays: 8 } },
  { id: 'meter-0004', district: 'zuid', address: 'Johannes Vermeerstraat 20', lat: 52.356, lon: 4.8835, attributes: { tariffZone: '2', bays: 16 } },
  { id: 'meter-0005', district: 'zuid', address: 'Beethovenstraat 70', lat: 52.3455, lon: 4.878, attributes: { tariffZone: '2', bays: 20 } },
  { id: 'meter-0006', district: 'west', address: 'De Clercqstraat 60', lat: 52.3708, lon: 4.864, attributes: { tariffZone: '2', bays: 12 } },
  { id: 'meter-0007', district: 'west', address: 'Jan Evertsenstraat 100', lat: 52.3688, lon: 4.8515, attributes: { tariffZone: '3', bays: 18 } },
  { id: 'meter-0008', district: 'oost', address: 'Linnaeusstraat 40', lat: 52.3605, lon: 4.9265, attributes: { tariffZone: '3', bays: 10 } },
  { id: 'meter-0009', district: 'oost', address: 'Middenweg 60', lat: 52.3555, lon: 4.936, attributes: { tariffZone: '3', bays: 14 } },
  { id: 'meter-0010', district: 'noord', address: 'Meeuwenlaan 90', lat: 52.386, lon: 4.9115, attributes: { tariffZone: '4', bays: 20 } },
  { id: 'meter-0011', district: 'nieuw-west', address: 'Slotermeerlaan 130', lat: 52.3785, lon: 4.812, attributes: { tariffZone: '4', bays: 16 } },
  { id: 'meter-0012', district: 'zuidoost', address: 'Arena Boulevard 61', lat: 52.3125, lon: 4.9435, attributes: { tariffZone: '4', bays: 30 } },
];

/** Canal lanterns, residential LEDs, and sodium lamps still left on arterials and industrial quays. */
const streetlights: Spec[] = [
  { id: 'light-0001', district: 'centrum', address: 'Herengracht 170', lat: 52.376, lon: 4.888, attributes: { powerRating: 28, lampType: 'LED' } },
  { id: 'light-0002', district: 'centrum', address: 'Oudezijds Voorburgwal 100', lat: 52.3735, lon: 4.8985, attributes: { powerRating: 28, lampType: 'LED' } },
  { id: 'light-0003', district: 'west', address: 'Haarlemmerweg 300', lat: 52.387, lon: 4.8745, attributes: { powerRating: 100, lampType: 'HPS' } },
  { id: 'light-0004', district: 'west', address: 'Admiraal de Ruijterweg 200', lat: 52.376, lon: 4.8555, attributes: { powerRating: 60, lampType: 'LED' } },
  { id: 'light-0005', district: 'oost', address: 'IJburglaan 500', lat: 52.355, lon: 4.995, attributes: { powerRating: 60, lampType: 'LED' } },
  { id: 'light-0006', district: 'oost', address: 'Wibautstraat 150', lat: 52.354, lon: 4.912, attributes: { powerRating: 80, lampType: 'LED' } },
  { id: 'light-0007', district: 'noord', address: 'Nieuwendammerdijk 300', lat: 52.3855, lon: 4.936, attributes: { powerRating: 40, lampType: 'LED' } },
  { id: 'light-0008', district: 'noord', address: 'NDSM-Plein 1', lat: 52.401, lon: 4.892, attributes: { powerRating: 150, lampType: 'HPS' } },
  { id: 'light-0009', district: 'zuid', address: 'Stadionweg 100', lat: 52.3465, lon: 4.8655, attributes: { powerRating: 60, lampType: 'LED' } },
  { id: 'light-0010', district: 'nieuw-west', address: 'Cornelis Lelylaan 50', lat: 52.3585, lon: 4.83, attributes: { powerRating: 100, lampType: 'LED' } },
  { id: 'light-0011', district: 'nieuw-west', address: 'Meer en Vaart 100', lat: 52.3615, lon: 4.7975, attributes: { powerRating: 60, lampType: 'LED' } },
  { id: 'light-0012', district: 'zuidoost', address: 'Bijlmerdreef 1000', lat: 52.318, lon: 4.97, attributes: { powerRating: 150, lampType: 'HPS' } },
];

const groups = [
  { file: 'simulators/demo-fleet/waste-bins.json', type: 'waste-bin', reportingIntervalS: 900, specs: wasteBins },
  { file: 'simulators/demo-fleet/parking-meters.json', type: 'parking-meter', reportingIntervalS: 300, specs: parkingMeters },
  { file: 'simulators/demo-fleet/streetlights.json', type: 'streetlight', reportingIntervalS: 600, specs: streetlights },
];
const credentialsFile = 'simulators/demo-credentials.json';

function readJson<T>(file: string, fallback: T): T {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : fallback;
}

const root = process.cwd();
const credentials = readJson<Record<string, string>>(path.join(root, credentialsFile), {});
const newCredentials: Record<string, string> = {};

for (const group of groups) {
  const target = path.join(root, group.file);
  const previous = new Map(readJson<Array<{ id: string; secretHash?: string }>>(target, []).map((r) => [r.id, r.secretHash]));
  const records = group.specs.map((s) => {
    const secret = credentials[s.id] ?? generateSecret();
    newCredentials[s.id] = secret;
    const old = previous.get(s.id);
    const secretHash = old !== undefined && verifySecret(secret, old) ? old : hashSecret(secret);
    return {
      id: s.id,
      type: group.type,
      location: { lat: s.lat, lon: s.lon },
      district: s.district,
      address: s.address,
      reportingIntervalS: group.reportingIntervalS,
      attributes: s.attributes,
      secretHash,
    };
  });
  writeFileSync(target, JSON.stringify(records, null, 2) + '\n');
  process.stdout.write(`${group.file}: ${records.length} devices\n`);
}
writeFileSync(path.join(root, credentialsFile), JSON.stringify(newCredentials, null, 2) + '\n');
process.stdout.write(`${credentialsFile}: ${Object.keys(newCredentials).length} demo secrets\n`);
