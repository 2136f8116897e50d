import type { BenchPayload } from '../../module.js';

export const airQualityBench: BenchPayload = {
  reading: (ts, seq) => `{"ts":${ts},"seq":${seq},"batteryLevel":0.8,"rssi":-88,"pm25":${(seq % 500) / 10},"pm10":${(seq % 800) / 10},"no2":${20 + (seq % 7)}}`,
  fields: (seq) => `seq=${seq}i,batteryLevel=0.8,rssi=-88,pm25=${(seq % 500) / 10},pm10=${(seq % 800) / 10},no2=${20 + (seq % 7)}`,
  rules: {
    steady: (rand) => ({ pm25: 2 + rand() * 6, pm10: 5 + rand() * 10, no2: 20 }),
    flip: (i) => ({ pm25: i % 2 ? 40 : 2 }),
  },
};
