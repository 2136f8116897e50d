import type { BenchPayload } from '../module.js';

export const wasteBinBench: BenchPayload = {
  reading: (ts, seq) =>
    `{"ts":${ts},"seq":${seq},"batteryLevel":0.87,"rssi":-92,"fillingLevel":${(seq % 1000) / 1000},"temperature":${12 + (seq % 10)},"status":"ok"}`,
  fields: (seq) => `seq=${seq}i,batteryLevel=0.87,rssi=-92,fillingLevel=${(seq % 1000) / 1000},temperature=${12 + (seq % 10)},status="ok"`,
  rules: {
    steady: (rand) => ({ fillingLevel: 0.4 + rand() * 0.3, temperature: 15 + rand() * 5, status: 'ok', batteryLevel: 0.8 }),
    flip: (i) => ({ fillingLevel: i % 2 ? 0.9 : 0.1 }),
  },
};
