import type { LorawanModel } from '../../../lorawan.js';
import { decodeTpl110, encodeTpl110 } from './codec.js';

export const boschTpl110: LorawanModel = {
  name: 'bosch-tpl110',
  product: 'Bosch Parking Lot Sensor (PLS, TPL110-0292) in-ground parking sensor',
  vectorsFrom: 'TheThingsNetwork/lorawan-devices vendor/bosch/tpl110-0292.js at commit 0a254aaa3adb0237faed50aa34916df1d07cf417 (codec tps110-0292-codec, firmware 0.29.2)',
  decode: decodeTpl110,
  encode: encodeTpl110,
};
