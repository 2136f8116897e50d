/**
 * The registry of device types. Adding a type: a folder beside this file (definition, fixtures,
 * README, default rules in `rules.json`, Grafana board in `grafana.json`), a behaviour model in
 * simulators/, and one line here; then `npm run generate` for rules/default.json and the boards.
 * `registry.test.ts` fails if a piece is missing.
 */
import type { DeviceTypeDefinition } from './types.js';
import { wasteBin } from './waste-bin/definition.js';
import { parkingMeter } from './parking-meter/definition.js';
import { streetlight } from './streetlight/definition.js';

export const deviceTypes = [wasteBin, parkingMeter, streetlight] as const satisfies readonly DeviceTypeDefinition[];

export type DeviceTypeName = (typeof deviceTypes)[number]['name'];

export const deviceTypeNames = deviceTypes.map((d) => d.name) as [DeviceTypeName, ...DeviceTypeName[]];

const byName: ReadonlyMap<string, DeviceTypeDefinition> = new Map(deviceTypes.map((d) => [d.name, d]));

/** The definition for a topic's `{type}` segment, or undefined. */
export function deviceType(name: string): DeviceTypeDefinition | undefined {
  return byName.get(name);
}

export { wasteBin, parkingMeter, streetlight };
