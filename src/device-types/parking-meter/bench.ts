import type { BenchPayload } from '../module.js';

export const parkingMeterBench: BenchPayload = {
  reading: (ts, seq) =>
    `{"ts":${ts},"seq":${seq},"batteryLevel":0.64,"rssi":-101,"totalSpotNumber":24,"availableSpotNumber":${seq % 25},"status":"ok","coinBoxLevel":${(seq % 100) / 100},"transactions":${seq % 7},"revenue":${(seq % 7) * 250}}`,
  fields: (seq) =>
    `seq=${seq}i,batteryLevel=0.64,rssi=-101,totalSpotNumber=24i,availableSpotNumber=${seq % 25}i,status="ok",coinBoxLevel=${(seq % 100) / 100},transactions=${seq % 7}i,revenue=${(seq % 7) * 250}i`,
  rules: {
    steady: (rand) => ({ totalSpotNumber: 10, availableSpotNumber: 1 + Math.floor(rand() * 9), status: 'ok', coinBoxLevel: rand() * 0.8, batteryLevel: 0.8 }),
    flip: (i) => ({ totalSpotNumber: 10, availableSpotNumber: 5, status: i % 2 ? 'coinJam' : 'ok' }),
  },
};
