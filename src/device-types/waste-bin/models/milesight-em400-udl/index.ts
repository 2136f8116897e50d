/** Milesight EM400-UDL, an ultrasonic distance sensor under a bin's lid (CONTRACT §7). */
import type { LorawanModel } from '../../../lorawan.js';
import { decodeEm400Udl, encodeEm400Udl } from './codec.js';

export const milesightEm400Udl: LorawanModel = {
  name: 'milesight-em400-udl',
  product: 'Milesight EM400-UDL ultrasonic distance/level sensor',
  vectorsFrom: 'github.com/Milesight-IoT/SensorDecoders em-series/em400-udl/em400-udl-decoder.js at commit e79c9d8b25ec66b6aad34c9240cfaa2ccd1353e3',
  decode: decodeEm400Udl,
  encode: encodeEm400Udl,
};
