/**
 * Every kind of condition, once: the rules file's schema (`schema.ts`) and the compiler
 * (`compile.ts`) both read this table. A new kind is a file in this folder and a line here; the type
 * makes the table name every kind of `ConditionSpec`, and nothing else.
 */
import type { ConditionSpec } from '../schema.js';
import { all, any } from './combined.js';
import { enumCondition } from './enum.js';
import type { ConditionKind } from './kind.js';
import { outside } from './outside.js';
import { silent } from './silent.js';
import { sunUp } from './sun-up.js';
import { threshold } from './threshold.js';

export const conditionKinds: { readonly [K in ConditionSpec['kind']]: ConditionKind<K> } = {
  threshold,
  outside,
  enum: enumCondition,
  sunUp,
  all,
  any,
  silent,
};
