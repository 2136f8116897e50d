/**
 * Every device type's behaviour model, by type name. Typed as a record over `DeviceTypeName` so that
 * registering a fourth device type without writing its model here fails to compile.
 */
import type { DeviceTypeName } from '../src/device-types/registry.js';
import type { AnyDeviceModel } from './model.js';
import { parkingMeterModel } from './parking-meter.js';
import { streetlightModel } from './streetlight.js';
import { wasteBinModel } from './waste-bin.js';

export const deviceModels: Readonly<Record<DeviceTypeName, AnyDeviceModel>> = Object.freeze({
  'waste-bin': wasteBinModel,
  'parking-meter': parkingMeterModel,
  streetlight: streetlightModel,
});

/** The model for a device type name, or undefined. */
export function modelFor(type: string): AnyDeviceModel | undefined {
  return Object.hasOwn(deviceModels, type) ? (deviceModels as Record<string, AnyDeviceModel>)[type] : undefined;
}

export { parkingMeterModel, streetlightModel, wasteBinModel };
export type { AnyDeviceModel, DeviceModel, DeviceSimulation, SimulationOptions } from './model.js';
