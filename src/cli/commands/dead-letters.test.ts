import { describe, expect, it } from 'vitest';
import { paletteFor, plain } from '../colour.js';
import { StatusLine } from '../status-line.js';
import { replayInChunks, replaySummary, type DeadLettersApi, type ReplayAnswer } from './dead-letters.js';

/**
 * The service's dead-letter store and replay endpoint as src/pipeline/replay.ts behaves: oldest
 * first; `limit` counts replayed and skipped; a replayed letter is deleted and, when `refusedAgain`,
 * comes back at once with a new, higher id; skipped ones (truncated payloads) stay.
 */
function fakeService(n: number, opts: { truncated?: number[]; refusedAgain?: boolean; spoolFullAfter?: number } = {}) {
  let nextId = 1;
  const letters: { id: number; truncated: boolean }[] = [];
  for (let i = 0; i < n; i++) letters.push({ id: nextId++, truncated: opts.truncated?.includes(i + 1) ?? false });
  const requests: number[] = [];
  let replayedEver = 0;
  const api: DeadLettersApi = {
    list: async (q) => ({ total: letters.length, items: letters.slice(-q.limit).reverse().map((l) => ({ id: l.id, receivedAt: '', reason: 'out_of_range', deviceId: null, message: '' })) }),
    replay: async (q) => {
      requests.push(q.limit);
      const answer: ReplayAnswer = { replayed: 0, skipped: [] };
      for (const l of [...letters].sort((a, b) => a.id - b.id)) {
        if (answer.replayed + answer.skipped.length >= q.limit) break;
        if (l.truncated) {
          answer.skipped.push({ id: l.id, why: 'the payload was truncated when it was stored' });
          continue;
        }
        if (opts.spoolFullAfter !== undefined && replayedEver >= opts.spoolFullAfter) {
          answer.stoppedBecause = 'spool full';
          break;
        }
        letters.splice(letters.indexOf(l), 1);
        answer.replayed++;
        replayedEver++;
        if (opts.refusedAgain) letters.push({ id: nextId++, truncated: false });
      }
      return answer;
    },
  };
  return { api, requests, letters, replayedEver: () => replayedEver };
}

describe('replayInChunks', () => {
  it('replays all of them in chunks, reporting after each, and never replays the dead letters it made itself', async () => {
    const svc = fakeService(25, { refusedAgain: true });
    const progress: string[] = [];
    const r = await replayInChunks(svc.api, { chunk: 10 }, { progress: (d, t) => progress.push(`${d}/${t}`) });
    expect(r).toEqual({ total: 25, replayed: 25, skipped: [] });
    expect(svc.requests).toEqual([10, 10, 5]);
    expect(progress).toEqual(['0/25', '10/25', '20/25', '25/25']);
    expect(svc.replayedEver()).toBe(25);
    // All 25 are back (still refused), each under a new id.
    expect(svc.letters.map((l) => l.id)).toEqual(Array.from({ length: 25 }, (_, i) => 26 + i));
  });

  it('asks past the skipped ones it has seen, and lists each once', async () => {
    const svc = fakeService(12, { truncated: [1, 2, 3] });
    const r = await replayInChunks(svc.api, { chunk: 4 }, {});
    expect(r.replayed).toBe(9);
    expect(r.skipped.map((s) => s.id)).toEqual([1, 2, 3]);
    // Skips count against the endpoint's limit: 3 known skips + 4 new each time after the first.
    expect(svc.requests).toEqual([4, 7, 7]);
    expect(svc.letters.map((l) => l.id)).toEqual([1, 2, 3]);
  });

  it('stops after --limit', async () => {
    const svc = fakeService(30, {});
    const r = await replayInChunks(svc.api, { chunk: 8, limit: 20 }, {});
    expect(r).toMatchObject({ total: 20, replayed: 20 });
    expect(svc.requests).toEqual([8, 8, 4]);
    expect(svc.letters).toHaveLength(10);
  });

  it('stops when the service stops the replay early, saying why', async () => {
    const svc = fakeService(30, { spoolFullAfter: 12 });
    const r = await replayInChunks(svc.api, { chunk: 10 }, {});
    expect(r).toMatchObject({ total: 30, replayed: 12, stoppedBecause: 'spool full' });
    expect(svc.requests).toEqual([10, 10]);
  });

  it('stops between chunks when interrupted', async () => {
    const svc = fakeService(30, {});
    let calls = 0;
    const r = await replayInChunks(svc.api, { chunk: 10 }, { interrupted: () => ++calls > 1 });
    expect(r).toMatchObject({ total: 30, replayed: 10, interrupted: true });
    expect(svc.requests).toEqual([10]);
  });

  it('sends nothing when there is nothing to replay', async () => {
    const svc = fakeService(0, {});
    expect(await replayInChunks(svc.api, { chunk: 10 }, {})).toEqual({ total: 0, replayed: 0, skipped: [] });
    expect(svc.requests).toEqual([]);
  });

  it('summarises in one line', () => {
    expect(replaySummary({ total: 5, replayed: 4, skipped: [{ id: 1, why: 'truncated' }] })).toBe(
      'replayed 4 of 5 dead letters, skipped 1 (truncated); they were validated again: written, or dead-lettered again with their current reason',
    );
    expect(replaySummary({ total: 0, replayed: 0, skipped: [] })).toBe('replayed 0 of 0 dead letters');
    expect(replaySummary({ total: 9, replayed: 3, skipped: [], interrupted: true })).toMatch(/; interrupted, run it again for the rest$/);
    expect(replaySummary({ total: 9, replayed: 3, skipped: [] })).not.toContain('\n');
  });
});

describe('StatusLine', () => {
  function stream(isTTY: boolean, columns?: number) {
    const s = { isTTY, columns, text: '', write: (t: string) => void (s.text += t) };
    return s;
  }

  it('writes nothing at all when its stream is not a terminal', () => {
    const out = stream(false);
    const line = new StatusLine(out, paletteFor(out, { FORCE_COLOR: '1' }));
    line.draw(line.counter('replayed', 5, 10, 'dead letters'));
    line.clear();
    expect(out.text).toBe('');
  });

  it('redraws in place on a terminal and clears itself', () => {
    const out = stream(true, 80);
    const line = new StatusLine(out, plain);
    line.draw(line.counter('replayed', 500, 1200, 'dead letters'));
    line.draw(line.counter('replayed', 1000, 1200, 'dead letters'));
    line.clear();
    expect(out.text).toBe('\r\x1b[2Kreplayed 500 of 1,200 dead letters\r\x1b[2Kreplayed 1,000 of 1,200 dead letters\r\x1b[2K');
  });

  it('styles the figures bold when colour is on, and cuts a long line to the width without colour', () => {
    const out = stream(true, 200);
    const line = new StatusLine(out, paletteFor(out, {}));
    line.draw(line.counter('replayed', 5, 10, 'dead letters'));
    expect(out.text).toContain('\x1b[1m5\x1b[22m');

    const narrow = stream(true, 12);
    const cut = new StatusLine(narrow, paletteFor(narrow, {}));
    cut.draw(cut.counter('replayed', 5, 10, 'dead letters'));
    expect(narrow.text).toBe('\r\x1b[2Kreplayed 5…');
  });
});
