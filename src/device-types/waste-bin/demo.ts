import type { DemoDevices } from '../module.js';

/** Bins at busy spots of every stadsdeel; 3000 L and larger are underground containers. */
export const wasteBinDemo: DemoDevices = {
  file: 'waste-bins.json',
  devices: [
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
  ],
  act: {
    story: 'fills up now and is emptied in 30 s: watch its ticket open and close below.',
    // Full (`waste.collect` raises at 0.8) within seconds, emptied (it clears below 0.3) at 30 s; then
    // rising 1 % a reading like any other bin, staying under the threshold.
    steps: [
      { atS: 2, value: 0.55 },
      { atS: 6, value: 0.72 },
      { atS: 10, value: 0.86 },
      { atS: 30, value: 0.04 },
    ],
    reading: (fillingLevel) => ({ fillingLevel: Math.round(fillingLevel * 1000) / 1000, temperature: 14, status: 'ok', batteryLevel: 0.93 }),
    next: (fillingLevel) => Math.min(0.78, fillingLevel + 0.01),
  },
};
