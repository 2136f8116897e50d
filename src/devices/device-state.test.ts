import { describe, expect, it } from 'vitest';
import type { ActiveAlert } from '../dispatch/types.js';
import { deviceState } from './device-state.js';

const reading = { deviceId: 'x', type: 't', timeMs: 1, receivedAt: 1, fields: {} };
const alert = (rule: string, role?: 'offline'): ActiveAlert => ({ deviceId: 'x', rule, since: 1, value: undefined, flapping: false, ...(role ? { role } : {}) });

describe('deviceState', () => {
  it('ranks offline above alert above ok; never heard from is unknown', () => {
    expect(deviceState(undefined, undefined)).toBe('unknown');
    expect(deviceState([], reading)).toBe('ok');
    expect(deviceState([alert('waste.full')], reading)).toBe('alert');
    expect(deviceState([alert('waste.full'), alert('device.offline', 'offline')], reading)).toBe('offline');
    // The role decides, not the id: a city may rename the rule.
    expect(deviceState([alert('city.silent', 'offline')], reading)).toBe('offline');
    expect(deviceState([alert('device.offline')], reading)).toBe('alert');
  });
});
