import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LatestReadings } from './latest-readings.js';
import type { RuleInput } from '../dispatch/types.js';

const r = (deviceId: string, timeMs: number, fillingLevel: number): RuleInput => ({ type: 'waste-bin', deviceId, district: 'Centrum', timeMs, receivedAt: timeMs + 5, fields: { fillingLevel } });

describe('LatestReadings', () => {
  it('keeps the newest reading per device by device time, across a restart', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'citypipe-latest-')), 'dispatch.db');
    const latest = new LatestReadings(file);
    latest.observe([r('a', 1000, 0.1), r('a', 3000, 0.3), r('b', 2000, 0.2), r('a', 2000, 0.25)]);
    expect(latest.get('a')).toMatchObject({ timeMs: 3000, fields: { fillingLevel: 0.3 } });
    // An older reading arriving later (a stored batch) does not replace it.
    latest.observe([r('a', 2500, 0.9)]);
    expect(latest.get('a')?.fields).toEqual({ fillingLevel: 0.3 });
    latest.close();
    const again = new LatestReadings(file);
    expect(again.get('a')).toEqual({ deviceId: 'a', type: 'waste-bin', timeMs: 3000, receivedAt: 3005, fields: { fillingLevel: 0.3 } });
    expect(again.get('b')?.fields).toEqual({ fillingLevel: 0.2 });
    expect(again.get('c')).toBeUndefined();
    again.close();
  });
});
