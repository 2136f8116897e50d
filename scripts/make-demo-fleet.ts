/**
 * Writes the demo fleet shipped in the repository: one catalog file per device type in
 * simulators/demo-fleet/ (records with secret hashes; the devices are each type's
 * `src/device-types/<type>/demo.ts`) and simulators/demo-credentials.json (the matching plaintext
 * secrets, demo only).
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
import { deviceTypeModules } from '../src/device-types/registry.js';

/** One catalog file per type, with that type's demo devices (its folder's `demo.ts`). */
const groups = deviceTypeModules.map((m) => ({
  file: `simulators/demo-fleet/${m.demo.file}`,
  type: m.definition.name,
  reportingIntervalS: m.fleet.reportingIntervalS,
  specs: m.demo.devices,
}));
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
