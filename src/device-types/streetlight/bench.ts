import type { BenchPayload } from '../module.js';

export const streetlightBench: BenchPayload = {
  reading: (ts, seq) =>
    `{"ts":${ts},"seq":${seq},"batteryLevel":0.99,"rssi":-77,"powerState":"on","status":"ok","illuminanceLevel":0.7,"powerConsumption":${40 + (seq % 100) / 10},"voltage":231.5,"current":0.19,"powerFactor":0.95,"ambientLight":3.5,"energyConsumed":${1000 + seq / 100}}`,
  fields: (seq) =>
    `seq=${seq}i,batteryLevel=0.99,rssi=-77,powerState="on",status="ok",illuminanceLevel=0.7,powerConsumption=${40 + (seq % 100) / 10},voltage=231.5,current=0.19,powerFactor=0.95,ambientLight=3.5,energyConsumed=${1000 + seq / 100}`,
  rules: {
    steady: (rand) => ({ powerState: 'on', status: 'ok', powerConsumption: 55 + rand() * 4, voltage: 225 + rand() * 10, illuminanceLevel: 1 }),
    flip: (i) => ({ powerState: 'on', voltage: i % 2 ? 200 : 230 }),
  },
};
