/**
 * Every device type's behaviour model, by type name, as the registry lists them: each type's model
 * lives in its folder (`src/device-types/<type>/model.ts`).
 */
import { deviceTypeModule, deviceTypeModules, type DeviceTypeName } from '../src/device-types/registry.js';
import type { AnyDeviceModel } from './model.js';

export const deviceModels: Readonly<Record<DeviceTypeName, AnyDeviceModel>> = Object.freeze(
  Object.fromEntries(deviceTypeModules.map((m) => [m.definition.name, m.model])) as Record<DeviceTypeName, AnyDeviceModel>,
);

/** The model for a device type name, or undefined. */
export function modelFor(type: string): AnyDeviceModel | undefined {
  return deviceTypeModule(type)?.model;
}

export type { AnyDeviceModel, DeviceModel, DeviceSimulation, SimulationOptions } from './model.js';
