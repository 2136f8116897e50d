/** `enum`: a string field in (or not in) a set of values. */
import { z } from 'zod';
import { ABSENT, CLEAR, RAISE, type ConditionKind } from './kind.js';
import { enumValues, fieldName } from './schema-blocks.js';

export const enumCondition: ConditionKind<'enum'> = {
  schema: () =>
    z
      .strictObject({ kind: z.literal('enum'), field: fieldName, in: enumValues.optional(), notIn: enumValues.optional() })
      .superRefine((c, ctx) => {
        if ((c.in === undefined) === (c.notIn === undefined)) ctx.addIssue({ code: 'custom', path: ['in'], message: 'give exactly one of `in` and `notIn`' });
      }),
  onReadings: true,
  needsDevice: () => false,
  compile(c) {
    const f = c.field;
    const values = c.in ?? c.notIn ?? [];
    const hit = c.in ? RAISE : CLEAR;
    const miss = c.in ? CLEAR : RAISE;
    return {
      cost: 1,
      test(fields) {
        const v = fields[f];
        if (typeof v !== 'string') return ABSENT;
        return values.includes(v) ? hit : miss;
      },
      explain(fields) {
        const v = fields[f];
        return typeof v === 'string' ? { value: v, text: `${f} = ${v}` } : { value: undefined, text: `${f} absent` };
      },
    };
  },
};
