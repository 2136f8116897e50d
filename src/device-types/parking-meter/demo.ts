import type { DemoDevices } from '../module.js';

/** Meters with the bays they count; tariffZone 1 (centre, dearest) … 4 (outer districts). */
export const parkingMeterDemo: DemoDevices = {
  file: 'parking-meters.json',
  devices: [
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
  ],
};
