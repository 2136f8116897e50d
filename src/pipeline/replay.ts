/**
 * Replays dead letters after a fix (a device added to the catalog, a schema loosened, an InfluxDB
 * field type corrected): each stored payload goes through ingest again, with its original topic and
 * receive time, and its new outcome is appended to the spool like a fresh message. The dead letter
 * is deleted only once the new outcome is durable; a reading that is still refused comes back as a
 * new dead letter with its current reason.
 */
import type { DeadLetterReason } from '../errors/catalog.js';
import type { DeadLetterRecord } from '../deadletter/store.js';
import { ReceiveClock } from '../ingest/receive-clock.js';
import { TRUNCATION_MARKER } from '../ingest/dead-letter-payload.js';
import type { Outcome } from '../ingest/outcome.js';
import type { RawMessage } from '../ingest/types.js';

export interface ReplayDeps {
  deadLetters: {
    oldest(q: { reason?: DeadLetterReason | undefined; afterId: number; limit: number }): DeadLetterRecord[] | Promise<DeadLetterRecord[]>;
    remove(ids: readonly number[]): void | Promise<void>;
  };
  decide(msg: RawMessage, clock: ReceiveClock): Outcome | undefined;
  /** Resolves once the outcome is on disk in the spool; rejects when the spool refuses it. */
  append(outcome: Outcome): Promise<void>;
}

export interface ReplayResult {
  /** Dead letters re-submitted (their new outcome is in the spool). */
  replayed: number;
  /** Dead letters left as they are, with why. */
  skipped: { id: number; why: string }[];
  /** Set when the replay stopped early (e.g. the spool is full); the rest can be replayed later. */
  stoppedBecause?: string;
}

const PAGE = 500;

export async function replayDeadLetters(deps: ReplayDeps, q: { reason?: DeadLetterReason | undefined; limit?: number | undefined } = {}): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: 0, skipped: [] };
  const clock = new ReceiveClock();
  const limit = q.limit ?? Number.MAX_SAFE_INTEGER;
  let afterId = 0;
  while (result.replayed + result.skipped.length < limit) {
    const page = await deps.deadLetters.oldest({ reason: q.reason, afterId, limit: Math.min(PAGE, limit - result.replayed - result.skipped.length) });
    if (page.length === 0) break;
    const done: number[] = [];
    try {
      for (const d of page) {
        afterId = d.id;
        const outcome = outcomeFor(d, deps, clock);
        if (typeof outcome === 'string') {
          result.skipped.push({ id: d.id, why: outcome });
          continue;
        }
        await deps.append(outcome);
        done.push(d.id);
        result.replayed++;
      }
    } catch (err) {
      result.stoppedBecause = err instanceof Error ? err.message : String(err);
      break;
    } finally {
      if (done.length) await deps.deadLetters.remove(done);
    }
  }
  return result;
}

function outcomeFor(d: DeadLetterRecord, deps: ReplayDeps, clock: ReceiveClock): Outcome | string {
  if (d.payload.endsWith(TRUNCATION_MARKER)) return 'the payload was truncated when it was stored';
  if (d.reason === 'influx_rejected') {
    // The payload is the line InfluxDB refused; try the same point again.
    return { topic: d.topic, receivedAt: d.receivedAt, type: d.type ?? '', deviceId: d.deviceId ?? '', lines: [d.payload], deadLetters: [] };
  }
  const outcome = deps.decide({ topic: d.topic, payload: Buffer.from(d.payload, 'utf8'), receivedAt: d.receivedAt, clientId: 'replay', username: undefined }, clock);
  return outcome ?? 'the topic carries no reading';
}
