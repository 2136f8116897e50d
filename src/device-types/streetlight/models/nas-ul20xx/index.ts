/** NAS UL20xx LoRaWAN luminaire controllers as a streetlight model (CONTRACT §7). */
import type { LorawanModel } from '../../../lorawan.js';
import { decodeUl20xx, encodeUl20xx } from './codec.js';

export const nasUl20xx: LorawanModel = {
  name: 'nas-ul20xx',
  product: 'NAS (Nordic Automation Systems) UL2002 / UL2014 / UL2030 LoRaWAN luminaire controller',
  vectorsFrom:
    'nasys/nas-codecs generated/ul20xx_1_1_x_decoder.js (fPorts 23, 26) and generated/ul20xx_1_0_x_decoder.js (fPort 25), changelog version 0.12.0, commit 4691977b60f3f1dba1eb4ef2a52f9324c21dc919',
  decode: decodeUl20xx,
  encode: encodeUl20xx,
};
