import type { BenchPayload } from '../module.js';

const STATUSES = ['free', 'occupied', 'occupied', 'free', 'closed', 'free', 'occupied', 'unknown'] as const;

export const parkingSpotBench: BenchPayload = {
  reading: (ts, seq) => `{"ts":${ts},"seq":${seq},"batteryLevel":0.91,"rssi":-97,"status":"${STATUSES[seq % 8]}","temperature":${4 + (seq % 20)}}`,
  fields: (seq) => `seq=${seq}i,batteryLevel=0.91,rssi=-97,status="${STATUSES[seq % 8]}",temperature=${4 + (seq % 20)}`,
  rules: {
    // Free or closed never starts the overstay timer.
    steady: (rand) => ({ status: rand() < 0.5 ? 'free' : 'closed', temperature: 5 + rand() * 15, batteryLevel: 0.8 }),
    // The overstay rule needs hours of `occupied` to raise, so the flip is the battery rule every type shares.
    flip: (i) => ({ status: 'free', batteryLevel: i % 2 ? 0.1 : 0.5 }),
  },
};
