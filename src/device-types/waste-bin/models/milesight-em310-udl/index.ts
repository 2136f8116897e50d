/** Milesight EM310-UDL, an ultrasonic distance sensor under a bin's lid (CONTRACT §7). */
import type { LorawanModel } from '../../../lorawan.js';
import { decodeEm310Udl, encodeEm310Udl } from './codec.js';

export const milesightEm310Udl: LorawanModel = {
  name: 'milesight-em310-udl',
  product: 'Milesight EM310-UDL ultrasonic distance/level sensor',
  vectorsFrom: 'github.com/Milesight-IoT/SensorDecoders em-series/em310-udl/em310-udl-decoder.js at commit e79c9d8b25ec66b6aad34c9240cfaa2ccd1353e3',
  decode: decodeEm310Udl,
  encode: encodeEm310Udl,
};
