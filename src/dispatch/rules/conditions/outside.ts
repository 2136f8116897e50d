/** `outside`: a numeric field outside a band, with its own clear band. */
import { z } from 'zod';
import { ABSENT, CLEAR, fmt, HOLD, RAISE, type ConditionKind } from './kind.js';
import { fieldName, finite } from './schema-blocks.js';

export const outside: ConditionKind<'outside'> = {
  schema: () =>
    z
      .strictObject({
        kind: z.literal('outside'),
        field: fieldName,
        low: finite,
        high: finite,
        clearLow: finite.optional(),
        clearHigh: finite.optional(),
      })
      .superRefine((c, ctx) => {
        if (c.low > c.high) ctx.addIssue({ code: 'custom', path: ['high'], message: `must be ≥ low (${c.low}), got ${c.high}` });
        if (c.clearLow !== undefined && c.clearLow < c.low) ctx.addIssue({ code: 'custom', path: ['clearLow'], message: `must be ≥ low (${c.low}), got ${c.clearLow}` });
        if (c.clearHigh !== undefined && c.clearHigh > c.high) ctx.addIssue({ code: 'custom', path: ['clearHigh'], message: `must be ≤ high (${c.high}), got ${c.clearHigh}` });
        if ((c.clearLow ?? c.low) > (c.clearHigh ?? c.high)) ctx.addIssue({ code: 'custom', path: ['clearLow'], message: 'the clear band is empty (clearLow > clearHigh)' });
      }),
  onReadings: true,
  needsDevice: () => false,
  compile(c) {
    const { field: f, low, high } = c;
    const clearLow = c.clearLow ?? low;
    const clearHigh = c.clearHigh ?? high;
    return {
      cost: 1,
      test(fields) {
        const v = fields[f];
        if (typeof v !== 'number') return ABSENT;
        if (v < low || v > high) return RAISE;
        return v >= clearLow && v <= clearHigh ? CLEAR : HOLD;
      },
      explain(fields) {
        const v = fields[f];
        if (typeof v !== 'number') return { value: undefined, text: `${f} absent` };
        const inside = v >= low && v <= high;
        return { value: v, text: `${f} ${fmt(v)} ${inside ? 'within' : 'outside'} ${fmt(inside ? clearLow : low)}..${fmt(inside ? clearHigh : high)}` };
      },
    };
  },
};
