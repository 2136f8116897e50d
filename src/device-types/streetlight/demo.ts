import type { DemoDevices } from '../module.js';

/** Canal lanterns, residential LEDs, and sodium lamps still left on arterials and industrial quays. */
export const streetlightDemo: DemoDevices = {
  file: 'streetlights.json',
  devices: [
    { id: 'light-0001', district: 'centrum', address: 'Herengracht 170', lat: 52.376, lon: 4.888, attributes: { powerRating: 28, lampType: 'LED' } },
    { id: 'light-0002', district: 'centrum', address: 'Oudezijds Voorburgwal 100', lat: 52.3735, lon: 4.8985, attributes: { powerRating: 28, lampType: 'LED' } },
    { id: 'light-0003', district: 'west', address: 'Haarlemmerweg 300', lat: 52.387, lon: 4.8745, attributes: { powerRating: 100, lampType: 'HPS' } },
    { id: 'light-0004', district: 'west', address: 'Admiraal de Ruijterweg 200', lat: 52.376, lon: 4.8555, attributes: { powerRating: 60, lampType: 'LED' } },
    { id: 'light-0005', district: 'oost', address: 'IJburglaan 500', lat: 52.355, lon: 4.995, attributes: { powerRating: 60, lampType: 'LED' } },
    { id: 'light-0006', district: 'oost', address: 'Wibautstraat 150', lat: 52.354, lon: 4.912, attributes: { powerRating: 80, lampType: 'LED' } },
    { id: 'light-0007', district: 'noord', address: 'Nieuwendammerdijk 300', lat: 52.3855, lon: 4.936, attributes: { powerRating: 40, lampType: 'LED' } },
    { id: 'light-0008', district: 'noord', address: 'NDSM-Plein 1', lat: 52.401, lon: 4.892, attributes: { powerRating: 150, lampType: 'HPS' } },
    { id: 'light-0009', district: 'zuid', address: 'Stadionweg 100', lat: 52.3465, lon: 4.8655, attributes: { powerRating: 60, lampType: 'LED' } },
    { id: 'light-0010', district: 'nieuw-west', address: 'Cornelis Lelylaan 50', lat: 52.3585, lon: 4.83, attributes: { powerRating: 100, lampType: 'LED' } },
    { id: 'light-0011', district: 'nieuw-west', address: 'Meer en Vaart 100', lat: 52.3615, lon: 4.7975, attributes: { powerRating: 60, lampType: 'LED' } },
    { id: 'light-0012', district: 'zuidoost', address: 'Bijlmerdreef 1000', lat: 52.318, lon: 4.97, attributes: { powerRating: 150, lampType: 'HPS' } },
  ],
};
