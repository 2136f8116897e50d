import type { DemoDevices } from '../../module.js';

/** Stations on a busy junction and in a park. */
export const airQualityDemo: DemoDevices = {
  file: 'air-quality.json',
  devices: [
    { id: 'air-0001', district: 'centrum', address: 'Stadhouderskade 1', lat: 52.3625, lon: 4.8835, attributes: { traffic: 1.1 } },
    { id: 'air-0002', district: 'zuid', address: 'Vondelpark 3', lat: 52.358, lon: 4.868, attributes: { traffic: 0.3 } },
  ],
};
