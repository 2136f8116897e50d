/** Dragino LDDS75, an ultrasonic distance sensor (CONTRACT §7). */
import type { LorawanModel } from '../../../lorawan.js';
import { decodeLdds75, encodeLdds75 } from './codec.js';

export const draginoLdds75: LorawanModel = {
  name: 'dragino-ldds75',
  product: 'Dragino LDDS75 LoRaWAN ultrasonic distance detection sensor',
  vectorsFrom:
    'github.com/dragino/dragino-end-node-decoder LDDS75/LDDS75_Decoder_V1.1.4.js (firmware 1.1.4 and later: 8 bytes; also run on the 4-byte battery-and-distance packets) and "LDDS75/LDDS75 decoder--TTN.txt" (earlier firmware: 5 bytes) at commit e81cc58a0523857887d705450c21c8cb99e93a8f',
  decode: decodeLdds75,
  encode: encodeLdds75,
};
