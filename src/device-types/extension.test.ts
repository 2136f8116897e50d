/**
 * A city adds a sensor kind. This proves that a device type is its folder plus one registry line:
 * `testing/air-quality/` is a fifth type that exists only as a folder, and the one line below is
 * what `registry.ts` would get. With it, the type passes the same contract as the registered ones
 * (validation of its fixtures and the shared common-field cases, its README, simulator model, fleet
 * defaults, demo devices and bench payload), and the fleet generator deals it out beside the others.
 *
 * Nothing outside the folder names the type. When rules or dashboards become part of a type's
 * folder, check them here too.
 */
import { describe, expect, it } from 'vitest';
import { deviceTypeModules } from './registry.js';
import { describeDeviceType, expectFleetShares } from './testing/type-contract.js';
import { airQualityType } from './testing/air-quality/index.js';
import { generateFleet } from '../../simulators/generate-fleet.js';

// The one registry line.
const withAirQuality = [...deviceTypeModules, airQualityType];

describeDeviceType(airQualityType, new URL('./testing/air-quality/', import.meta.url));

describe('a fifth device type added as one folder', () => {
  it('is not registered: the shipped registry is unchanged', () => {
    expect(deviceTypeModules.map((m) => m.definition.name)).not.toContain(airQualityType.definition.name);
  });

  it('is dealt into a generated fleet in its share, beside the registered types', async () => {
    const fleet = await generateFleet({ count: 2000, districts: 5, seed: 4, types: withAirQuality, hash: async () => 'unused' });
    expectFleetShares(fleet.records, withAirQuality);
    for (const r of fleet.records.filter((x) => x.type === (airQualityType.definition.name as string))) {
      expect(r.id).toMatch(/^ams-air-\d{5}$/);
    }
  });
});
