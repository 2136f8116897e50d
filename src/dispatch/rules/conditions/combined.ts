/** `all` and `any`: conditions combined; nested ones are compiled through the kinds table. */
import { z } from 'zod';
import type { ConditionSpec } from '../schema.js';
import { ABSENT, CLEAR, HOLD, RAISE, type ConditionKind, type Fields } from './kind.js';

function combined<K extends 'all' | 'any'>(kind: K): ConditionKind<K> {
  return {
    schema: (sub) =>
      z.strictObject({
        kind: z.literal(kind),
        get of(): z.ZodArray<z.ZodType<ConditionSpec>> {
          return z.array(sub()).min(1);
        },
      }),
    onReadings: true,
    needsDevice: (c, needsDevice) => c.of.some(needsDevice),
    compile(c, device, path, problems, compileCondition) {
      // Verdicts combine order-independently (below), so the cheap conditions can go first and the
      // expensive ones are skipped when a cheap one already decides.
      const parts = c.of
        .map((sub, i) => compileCondition(sub, device, `${path}.of[${i}]`, problems))
        .sort((a, b) => a.cost - b.cost);
      const cost = parts.reduce((s, p) => s + p.cost, 0);
      const joiner = c.kind === 'all' ? ' and ' : ' or ';
      const explain = (fields: Fields, timeMs: number) => {
        const present = parts.map((p) => ({ p, e: p.explain(fields, timeMs), v: p.test(fields, timeMs) })).filter((x) => x.v !== ABSENT);
        const deciding = c.kind === 'any' ? present.filter((x) => x.v === RAISE) : present;
        const shown = deciding.length ? deciding : present;
        return { value: shown[0]?.e.value, text: shown.map((x) => x.e.text).join(joiner) || 'no field present' };
      };
      if (c.kind === 'all') {
        // CLEAR if any part clears; else ABSENT if any part cannot say; else HOLD if any holds; else RAISE.
        return {
          cost,
          explain,
          test(fields, timeMs) {
            let absent = false;
            let hold = false;
            for (const p of parts) {
              const v = p.test(fields, timeMs);
              if (v === CLEAR) return CLEAR;
              if (v === ABSENT) absent = true;
              else if (v === HOLD) hold = true;
            }
            return absent ? ABSENT : hold ? HOLD : RAISE;
          },
        };
      }
      // RAISE if any part raises; else, among the parts present, HOLD if any holds, else CLEAR; ABSENT if none is present.
      return {
        cost,
        explain,
        test(fields, timeMs) {
          let present = false;
          let hold = false;
          for (const p of parts) {
            const v = p.test(fields, timeMs);
            if (v === RAISE) return RAISE;
            if (v !== ABSENT) present = true;
            if (v === HOLD) hold = true;
          }
          return !present ? ABSENT : hold ? HOLD : CLEAR;
        },
      };
    },
  };
}

export const all = combined('all');
export const any = combined('any');
