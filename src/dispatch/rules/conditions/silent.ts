/** `silent`: no reading for a number of the device's reporting intervals; swept by the deadman. */
import { z } from 'zod';
import { NEVER, type ConditionKind } from './kind.js';
import { finite } from './schema-blocks.js';

export const silent: ConditionKind<'silent'> = {
  schema: () => z.strictObject({ kind: z.literal('silent'), intervals: finite.positive() }),
  onReadings: false,
  needsDevice: () => false,
  // Swept by the deadman, never evaluated on a reading.
  compile: () => NEVER,
};
