/**
 * The position (tilt) channel of Milesight's ultrasonic sensors (EM310-UDL, EM400-UDL): the device
 * knows only upright (0) and tilted (1), which citypipe reads as the waste-bin status `ok` and `moved`;
 * any other byte is `unknown` (the vendor's decoder says `unknown` too).
 */

/** The waste-bin status of a position byte. */
export function statusOfPosition(position: number): 'ok' | 'moved' | 'unknown' {
  return position === 0 ? 'ok' : position === 1 ? 'moved' : 'unknown';
}

/**
 * For the encoders: the position byte of a status. `unknown` goes out as 2; the type's other
 * statuses (`lidOpen`, `dropped`, …) are nothing this sensor measures: no position channel.
 */
export const POSITION_OF_STATUS: Readonly<Record<string, number>> = { ok: 0, moved: 1, unknown: 2 };
