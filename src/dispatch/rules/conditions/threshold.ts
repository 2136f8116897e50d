/** `threshold`: a numeric field at or above a level, or below one, with its own clear level. */
import { z } from 'zod';
import { ABSENT, CLEAR, fmt, HOLD, levelValue, NEVER, RAISE, type ConditionKind } from './kind.js';
import { fieldName, level } from './schema-blocks.js';

export const threshold: ConditionKind<'threshold'> = {
  schema: () =>
    z
      .strictObject({ kind: z.literal('threshold'), field: fieldName, above: level.optional(), below: level.optional(), clear: level.optional() })
      .superRefine((c, ctx) => {
        if ((c.above === undefined) === (c.below === undefined)) {
          ctx.addIssue({ code: 'custom', path: ['above'], message: 'give exactly one of `above` and `below`' });
          return;
        }
        if (typeof c.clear !== 'number') return;
        if (typeof c.above === 'number' && c.clear > c.above) {
          ctx.addIssue({ code: 'custom', path: ['clear'], message: `must be ≤ above (${c.above}): it clears below this level, got ${c.clear}` });
        }
        if (typeof c.below === 'number' && c.clear < c.below) {
          ctx.addIssue({ code: 'custom', path: ['clear'], message: `must be ≥ below (${c.below}): it clears at or above this level, got ${c.clear}` });
        }
      }),
  onReadings: true,
  needsDevice: (c) => [c.above, c.below, c.clear].some((l) => typeof l === 'object'),
  compile(c, device, path, problems) {
    const f = c.field;
    // `above`: raise at ≥ level, clear below `clear`; `below`: raise under level, clear at ≥ `clear`.
    const up = c.above !== undefined;
    const side = up ? 'above' : 'below';
    const raise = levelValue(up ? c.above! : c.below!, device, `${path}.${side}`, problems);
    let clear = c.clear === undefined ? raise : levelValue(c.clear, device, `${path}.clear`, problems);
    if (raise === undefined || clear === undefined) return NEVER;
    if (up ? clear > raise : clear < raise) {
      problems.add(`${path}.clear: ${clear} is ${side} the raise level ${raise} for this device; clearing at ${raise}`);
      clear = raise;
    }
    const r = raise;
    const cl = clear;
    const raises = up ? (v: number) => v >= r : (v: number) => v < r;
    const clears = up ? (v: number) => v < cl : (v: number) => v >= cl;
    const [raiseSign, clearSign] = up ? ['≥', '<'] : ['<', '≥'];
    return {
      cost: 1,
      test(fields) {
        const v = fields[f];
        if (typeof v !== 'number') return ABSENT;
        return raises(v) ? RAISE : clears(v) ? CLEAR : HOLD;
      },
      explain(fields) {
        const v = fields[f];
        if (typeof v !== 'number') return { value: undefined, text: `${f} absent` };
        return { value: v, text: raises(v) ? `${f} ${fmt(v)} ${raiseSign} ${fmt(r)}` : clears(v) ? `${f} ${fmt(v)} ${clearSign} ${fmt(cl)}` : `${f} ${fmt(v)}` };
      },
    };
  },
};
