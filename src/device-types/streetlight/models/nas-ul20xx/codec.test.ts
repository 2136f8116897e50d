import { describe, expect, it } from 'vitest';
import { hexBytes } from '../../../lorawan.js';
import { describeLorawanModel } from '../../../testing/codec-contract.js';
import { streetlight } from '../../definition.js';
import { nasUl20xx } from './index.js';

describeLorawanModel(nasUl20xx, streetlight, new URL('./', import.meta.url));

describe('nas-ul20xx beyond its golden vectors', () => {
  const status = (tail: string) => nasUl20xx.decode(hexBytes(`01 8c451f69 8000 3c070c 00 ${tail}`), 23);

  it('reads a dimmed lamp with a failed driver as lit but defective', () => {
    // dali_single_9 at 30 %: driver error (bit 0) and lamp on (bit 2).
    expect(status('00 12 22 1e 05')).toEqual({ ok: true, fields: { powerState: 'on', status: 'defectiveLamp', illuminanceLevel: 0.3 } });
  });

  it('takes the D4i light sensor when the controller has no light sensor of its own, and skips an unavailable one', () => {
    // 0x02 light sensor unavailable (0xFFFF), then 0x03 D4i light sensor 299.9 lx.
    expect(status('06 02 ffff 03 9455 fe 22 64 04')).toMatchObject({ ok: true, fields: { ambientLight: 299.9 } });
  });

  it('refuses a status packet that leaves the lamp state unknown: relay closed, no DALI status, no level', () => {
    const out = status('00 01 22 ff ff');
    expect(out.ok).toBe(false);
    expect(!out.ok && out.reason).toMatch(/^fPort 23: .*neither a lamp state nor a dimming level/);
  });

  it('gives a usage packet without a lamp state, for the type to derive it from the power', () => {
    const out = nasUl20xx.decode(hexBytes('00 ff 02 3a00'), 26);
    expect(out).toEqual({ ok: true, fields: { powerConsumption: 58 } });
  });
});
