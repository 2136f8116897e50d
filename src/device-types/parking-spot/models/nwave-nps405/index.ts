import type { LorawanModel } from '../../../lorawan.js';
import { decodeNps405, encodeNps405 } from './codec.js';

export const nwaveNps405: LorawanModel = {
  name: 'nwave-nps405',
  product: 'Nwave NPS 400-series (NPS-4.5 SM/FM) in-ground parking sensor',
  vectorsFrom: 'TheThingsNetwork/lorawan-devices vendor/nwave/nps405.js at commit 62c8acdd7f0f1e43b65a86f6c158d83b3d0cd200 (codec nps405-codec, firmware 2.4.9)',
  decode: decodeNps405,
  encode: encodeNps405,
};
