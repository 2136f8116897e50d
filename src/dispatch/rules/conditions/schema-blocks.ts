/** Pieces of zod schema that the condition kinds and the rest of the rules file share. */
import { z } from 'zod';

export const finite = z.number().refine(Number.isFinite, 'must be a finite number');

/** A numeric level: a constant, or a multiple of one of the device's catalog `attributes`. */
export const level = z.union([
  finite,
  z.strictObject({
    attribute: z.string().min(1),
    times: finite.optional(),
    default: finite.optional(),
  }),
]);

export const fieldName = z.string().min(1);
export const enumValues = z.array(z.string().min(1)).min(1);
