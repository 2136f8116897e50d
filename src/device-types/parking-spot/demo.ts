import type { DemoDevices } from '../module.js';

/**
 * Bays with in-ground sensors in three zones: two in the centre (two hours at most) and one in Zuid
 * (four hours), so the zone counts (`parking_zone`) have several bays each.
 */
export const parkingSpotDemo: DemoDevices = {
  file: 'parking-spots.json',
  devices: [
    { id: 'bay-0001', district: 'centrum', address: 'Nieuwezijds Voorburgwal 120', lat: 52.3745, lon: 4.8906, attributes: { zone: 'centrum-z1', maxStayMin: 120 } },
    { id: 'bay-0002', district: 'centrum', address: 'Nieuwezijds Voorburgwal 124', lat: 52.3747, lon: 4.8904, attributes: { zone: 'centrum-z1', maxStayMin: 120 } },
    { id: 'bay-0003', district: 'centrum', address: 'Nieuwezijds Voorburgwal 128', lat: 52.3749, lon: 4.8902, attributes: { zone: 'centrum-z1', maxStayMin: 120 } },
    { id: 'bay-0004', district: 'centrum', address: 'Herengracht 380', lat: 52.3668, lon: 4.8893, attributes: { zone: 'centrum-z2', maxStayMin: 120 } },
    { id: 'bay-0005', district: 'centrum', address: 'Herengracht 384', lat: 52.3666, lon: 4.8896, attributes: { zone: 'centrum-z2', maxStayMin: 120 } },
    { id: 'bay-0006', district: 'zuid', address: 'Van Baerlestraat 30', lat: 52.3588, lon: 4.8808, attributes: { zone: 'zuid-z1', maxStayMin: 240 } },
    { id: 'bay-0007', district: 'zuid', address: 'Van Baerlestraat 34', lat: 52.3586, lon: 4.8806, attributes: { zone: 'zuid-z1', maxStayMin: 240 } },
    { id: 'bay-0008', district: 'zuid', address: 'Van Baerlestraat 38', lat: 52.3584, lon: 4.8804, attributes: { zone: 'zuid-z1', maxStayMin: 240 } },
  ],
};
