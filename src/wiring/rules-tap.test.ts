import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger, type Logger } from '../observability/logger.js';
import { IngestPipeline } from '../pipeline/ingest.js';
import { decodeOutcome, encodeOutcome, type Outcome } from '../ingest/outcome.js';
import { RulesStage, defaultRulesFile } from '../dispatch/rules-stage.js';
import { TestCatalog, device } from '../dispatch/testing/fixtures.js';
import type { RuleEvent, RuleInput } from '../dispatch/types.js';
import { RulesTap } from './rules-tap.js';

const bin = device({ id: 'bin-7', type: 'waste-bin', district: 'Centrum' });
const catalog = new TestCatalog([bin]);
const ingest = new IngestPipeline({
  catalog,
  validate: { maxPayloadBytes: 65536, maxBatch: 100, maxAgeMs: 7 * 86_400_000, maxFutureMs: 300_000, maxDeadLetterPayloadBytes: 4096 },
});

function outcome(payload: unknown): Outcome {
  const o = ingest.decide({ topic: `city/waste-bin/${bin.id}/telemetry`, payload: Buffer.from(JSON.stringify(payload)), receivedAt: Date.now(), clientId: bin.id, username: bin.id });
  if (!o) throw new Error('no outcome');
  return o;
}

/** Past the tap's batching window, on the fake clock: the batch timer fires however busy the machine is. */
const nextTurn = () => vi.advanceTimersByTimeAsync(60);

describe('RulesTap', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives the rules the same readings whether they come live or back from the stored record', async () => {
    const live: RuleInput[][] = [];
    const back: RuleInput[][] = [];
    const liveTap = new RulesTap({ consumers: [(b) => live.push([...b])], log: silentLogger });
    const backTap = new RulesTap({ consumers: [(b) => back.push([...b])], log: silentLogger });
    const now = Date.now();
    const o = outcome([
      { ts: new Date(now - 2000).toISOString(), fillingLevel: 0.5, temperature: 20, status: 'ok', batteryLevel: 0.9 },
      { ts: new Date(now - 1000).toISOString(), fillingLevel: 0.55, temperature: 20.5, status: 'ok', batteryLevel: 0.9 },
    ]);
    liveTap.stored(o);
    backTap.recovered(decodeOutcome(encodeOutcome(o)));
    expect(live).toEqual([]); // batched for a few milliseconds
    await nextTurn();
    expect(live).toHaveLength(1);
    expect(live[0]).toHaveLength(2);
    expect(back).toEqual(live);
    expect(live[0]![1]).toMatchObject({ deviceId: 'bin-7', district: 'Centrum', type: 'waste-bin', fields: { fillingLevel: 0.55, status: 'ok' } });
  });

  it('evaluates readings stored in one turn as one batch, in order, and raises the rule', async () => {
    const events: RuleEvent[] = [];
    const rules = new RulesStage({ rulesFile: defaultRulesFile, stateFile: ':memory:', catalog, onEvents: (e) => events.push(...e), log: silentLogger });
    rules.start();
    const batches: number[] = [];
    const tap = new RulesTap({ consumers: [(b) => batches.push(b.length), (b) => rules.evaluate(b)], log: silentLogger });
    const now = Date.now();
    for (const [i, level] of [0.2, 0.5, 0.85].entries()) {
      tap.stored(outcome({ ts: new Date(now - 3000 + i * 1000).toISOString(), fillingLevel: level, temperature: 20, status: 'ok', batteryLevel: 0.9 }));
    }
    await nextTurn();
    expect(batches).toEqual([3]);
    expect(events.map((e) => `${e.rule} ${e.state}`)).toEqual(['waste.collect raised']);
    // The same record again after a restart changes nothing: the engine has seen these device times.
    tap.recovered(decodeOutcome(encodeOutcome(outcome({ ts: new Date(now - 1000).toISOString(), fillingLevel: 0.85, temperature: 20, status: 'ok', batteryLevel: 0.9 }))));
    await nextTurn();
    expect(events).toHaveLength(1);
    await rules.stop();
  });

  it('logs a consumer that throws, still feeds the others, and keeps going', async () => {
    const error = vi.fn();
    const log = { ...silentLogger, error } as unknown as Logger;
    const seen: number[] = [];
    const tap = new RulesTap({
      consumers: [
        () => {
          throw new Error('boom');
        },
        (b) => seen.push(b.length),
      ],
      log,
    });
    const now = Date.now();
    tap.stored(outcome({ ts: new Date(now).toISOString(), fillingLevel: 0.1, temperature: 20, status: 'ok', batteryLevel: 0.9 }));
    await nextTurn();
    tap.stored(outcome({ ts: new Date(now + 1).toISOString(), fillingLevel: 0.1, temperature: 20, status: 'ok', batteryLevel: 0.9 }));
    await nextTurn();
    expect(seen).toEqual([1, 1]);
    expect(error).toHaveBeenCalledTimes(2);
    expect(error.mock.calls[0]![1]).toMatch(/dispatch could not evaluate/);
  });
});
