/**
 * A device's health as operators see it (ok, alert, offline, unknown): what the device API answers
 * and what the map on the boards draws (self-stats `device_state`), from one function.
 */
import type { ActiveAlert } from '../dispatch/types.js';
import type { LatestReading } from './latest-readings.js';

export type DeviceState = 'ok' | 'alert' | 'offline' | 'unknown';
/** A device's health: offline (an alert of a rule with role `offline`) beats alert; never heard from is unknown. */
export function deviceState(alerts: readonly ActiveAlert[] | undefined, latest: LatestReading | undefined): DeviceState {
  if (alerts?.some((a) => a.role === 'offline')) return 'offline';
  if (alerts && alerts.length > 0) return 'alert';
  return latest ? 'ok' : 'unknown';
}
