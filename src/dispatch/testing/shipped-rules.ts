/**
 * CONTRACT §5 as tables of readings, run against the shipped `rules/default.json` through the rules
 * stage: each device type's folder holds the cases of its own rules (`<type>/rules.test.ts`),
 * `default-rules.test.ts` those every type shares. Not part of the build (tsconfig.build excludes
 * `testing/`).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeviceRecord } from '../../catalog/types.js';
import { silentLogger } from '../../observability/logger.js';
import { RulesStage, defaultRulesFile } from '../rules-stage.js';
import { RuleBook } from '../rules/rule-book.js';
import type { RuleEvent } from '../types.js';
import { MIN, T0, TestCatalog, reading, summary } from './fixtures.js';

/** 00:30 in Amsterdam: the sun is down. */
export const NIGHT = Date.parse('2026-06-01T22:30:00Z');
/** T0 is noon in Amsterdam: the sun is high. */
export const NOON = T0;

export type Fields = Record<string, number | string>;

export interface RuleCase {
  readonly rule: string;
  readonly device: DeviceRecord;
  /** Device time of minute 0 (T0 unless said). */
  readonly start?: number;
  /** [minute, fields, expected events of that reading] */
  readonly steps: readonly [number, Fields, readonly string[]][];
}

export interface ShippedRules {
  /** The running stage (a new one for each test). */
  readonly stage: RulesStage;
  /** Every event the stage delivered in this test. */
  readonly delivered: RuleEvent[];
}

/** A rules stage on the shipped rules and a catalog of `devices`, started before each test of the calling `describe`, at T0 with fake timers. */
export function useShippedRules(devices: readonly DeviceRecord[]): ShippedRules {
  const ctx = { stage: undefined as unknown as RulesStage, delivered: [] as RuleEvent[] };
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
    ctx.delivered = [];
    ctx.stage = new RulesStage({
      rulesFile: defaultRulesFile,
      stateFile: ':memory:',
      catalog: new TestCatalog(devices),
      onEvents: (events) => ctx.delivered.push(...events),
      log: silentLogger,
    });
    ctx.stage.start();
  });
  afterEach(async () => {
    await ctx.stage.stop();
    vi.useRealTimers();
  });
  return ctx;
}

const ticketRules = new Set(
  RuleBook.load(defaultRulesFile)
    .rules.filter((r) => r.ticket)
    .map((r) => r.id),
);

/** One test per case: each reading of the case raises or clears exactly the events it lists for the case's rule. */
export function describeRuleCases(title: string, cases: readonly (readonly [string, RuleCase])[]): void {
  describe(title, () => {
    const ctx = useShippedRules([...new Set(cases.map(([, c]) => c.device))]);

    it.each(cases)('%s', (_name, c) => {
      const start = c.start ?? T0;
      for (const [minute, fields, expected] of c.steps) {
        vi.setSystemTime(start + minute * MIN);
        ctx.delivered.length = 0;
        ctx.stage.evaluate([reading(c.device, start + minute * MIN, fields)]);
        expect(
          ctx.delivered.filter((e) => e.rule === c.rule).map((e) => summary(e).replace(`${c.device.id} `, '')),
          `minute ${minute}`,
        ).toEqual(expected);
        // A ticket rule files under its own id as the service code; an event-only rule under none.
        for (const e of ctx.delivered) expect(e.serviceCode).toBe(ticketRules.has(e.rule) ? e.rule : undefined);
      }
    });
  });
}
