/**
 * Which device types the collection plan covers: those whose definition declares the `collection`
 * capability (containers a crew empties), with the field that holds their fill ratio. Read from the
 * registry once, so the plan and the fill history never name a type.
 */
import { deviceTypes } from '../device-types/registry.js';

const fillFields: ReadonlyMap<string, string> = new Map(deviceTypes.flatMap((d) => (d.collection ? [[d.name, d.collection.fillField] as const] : [])));

/** The fill-ratio field of a collected type, or undefined for a type the plan does not cover. */
export function fillFieldOf(type: string): string | undefined {
  return fillFields.get(type);
}
