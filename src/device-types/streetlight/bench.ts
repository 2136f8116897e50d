import type { BenchPayload } from '../module.js';

export const streetlightBench: BenchPayload = {
  reading: (ts, seq) =>
    `{"ts":${ts},"seq":${seq},"batteryLevel":0.99,"rssi":-77,"powerState":"on","status":"ok","illuminanceLevel":0.7,"powerConsumption":${40 + (seq % 100) / 10},"voltage":231.5,"current":0.19,"powerFactor":0.95,"ambientLight":3.5,"energyConsumed":${1000 + seq / 100}}`,
  fields: (seq) =>
    `seq=${seq}i,batteryLevel=0.99,rssi=-77,powerState="on",status="ok",illuminanceLevel=0.7,powerConsumption=${40 + (seq % 100) / 10},voltage=231.5,current=0.19,powerFactor=0.95,ambientLight=3.5,energyConsumed=${1000 + seq / 100}`,
};
