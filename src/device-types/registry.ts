/**
 * The registry of device types: one line per type folder. Everything outside `src/device-types/`
 * (ingest, the catalog, the simulators and the fleet generator, the bench, the demo, the collection
 * plan) finds a type here and nowhere else, so adding a type is its folder (see the README's "Add a
 * device type": definition, model, fleet defaults, bench payload, demo devices, default rules in
 * `rules.json`, Grafana board in `grafana.json`, fixtures, README)
 * plus one line in `deviceTypeModules` below, then `npm run generate` for rules/default.json and
 * the boards. `registry.test.ts` runs the type contract
 * (`testing/type-contract.ts`) against every type listed here and names the piece a folder lacks;
 * `extension.test.ts` proves with a throwaway fifth type that nothing else needs to change.
 */
import type { DeviceTypeModule } from './module.js';
import type { DeviceTypeDefinition } from './types.js';
import type { LorawanModel } from './lorawan.js';
import { wasteBinType } from './waste-bin/index.js';
import { parkingMeterType } from './parking-meter/index.js';
import { streetlightType } from './streetlight/index.js';
import { parkingSpotType } from './parking-spot/index.js';

/** Every device type, in the order lists, metrics and `--help` show them. */
export const deviceTypeModules = [wasteBinType, parkingMeterType, streetlightType, parkingSpotType] as const satisfies readonly DeviceTypeModule[];

type RegisteredDefinition = (typeof deviceTypeModules)[number]['definition'];

export type DeviceTypeName = RegisteredDefinition['name'];

/** The definitions of {@link deviceTypeModules}, in the same order. */
export const deviceTypes = deviceTypeModules.map((m) => m.definition) as [RegisteredDefinition, ...RegisteredDefinition[]];

export const deviceTypeNames = deviceTypes.map((d) => d.name) as [DeviceTypeName, ...DeviceTypeName[]];

const byName: ReadonlyMap<string, DeviceTypeDefinition> = new Map(deviceTypes.map((d) => [d.name, d]));
const moduleByName: ReadonlyMap<string, DeviceTypeModule> = new Map(deviceTypeModules.map((m) => [m.definition.name, m]));

/** The definition for a topic's `{type}` segment, or undefined. */
export function deviceType(name: string): DeviceTypeDefinition | undefined {
  return byName.get(name);
}

/** A LoRaWAN device model and the type whose readings it yields. */
export interface RegisteredModel {
  readonly model: LorawanModel;
  readonly type: DeviceTypeModule;
}

const modelByName: ReadonlyMap<string, RegisteredModel> = new Map(
  deviceTypeModules.flatMap((type: DeviceTypeModule) => (type.lorawan?.models ?? []).map((model) => [model.name, { model, type }] as const)),
);

/** Every LoRaWAN device model of every type, in registry order. */
export const lorawanModels: readonly RegisteredModel[] = [...modelByName.values()];

/** The LoRaWAN model a catalog record's `lorawan.model` names, or undefined. */
export function lorawanModel(name: string): RegisteredModel | undefined {
  return modelByName.get(name);
}

/** The whole folder module of a type (model, fleet defaults, bench payload, demo devices), or undefined. */
export function deviceTypeModule(name: string): DeviceTypeModule | undefined {
  return moduleByName.get(name);
}

export { wasteBin } from './waste-bin/definition.js';
export { parkingMeter } from './parking-meter/definition.js';
export { streetlight } from './streetlight/definition.js';
