/**
 * Whatever a network server (or anyone holding its credentials) sends, the parsers answer with a
 * ParseResult: they never throw, an accepted event holds only well-formed values, and a refusal
 * names the field that is wrong. Every fixture is mutated at every node: dropped, set to `null`,
 * `''`, `[]`, `{}`, `1e400` (Infinity once parsed), a huge, negative or fractional number, `true`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseChirpstack, parseChirpstackPublish } from './chirpstack.js';
import { parseTts, parseTtsPublish } from './tts.js';
import type { ParseResult, UplinkEvent } from './types.js';

type Parse = (body: Buffer) => ParseResult;

interface Target {
  readonly name: string;
  readonly body: Buffer;
  readonly parses: readonly (readonly [string, Parse])[];
}

const folder = new URL('./fixtures/', import.meta.url);

function chirpstackEventType(fixture: string): string {
  return fixture.split('-')[0]!;
}

const TARGETS: Target[] = [
  ...readdirSync(new URL('chirpstack/', folder))
    .filter((f) => f.endsWith('.json'))
    .map((f): Target => {
      const eventType = chirpstackEventType(f.replace(/\.json$/, ''));
      const topic = `application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/${eventType}`;
      return {
        name: `chirpstack/${f}`,
        body: readFileSync(new URL(`chirpstack/${f}`, folder)),
        parses: [
          [`parseChirpstack('${eventType}')`, (body) => parseChirpstack(eventType, body)],
          ['parseChirpstackPublish', (body) => parseChirpstackPublish(topic, body)],
        ],
      };
    }),
  ...readdirSync(new URL('tts/', folder))
    .filter((f) => f.endsWith('.json'))
    .map(
      (f): Target => ({
        name: `tts/${f}`,
        body: readFileSync(new URL(`tts/${f}`, folder)),
        parses: [
          ['parseTts', parseTts],
          ['parseTtsPublish', (body) => parseTtsPublish('v3/starter-kit@ttn/devices/eui-70b3d52dd600035a/up', body)],
        ],
      }),
    ),
];

type Step = string | number;

/** Every node below the root, as the steps that lead to it. */
function* nodes(value: unknown, at: Step[] = []): Generator<Step[]> {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      yield [...at, i];
      yield* nodes(value[i], [...at, i]);
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, child] of Object.entries(value)) {
      yield [...at, key];
      yield* nodes(child, [...at, key]);
    }
  }
}

/** The path as the parsers' messages write it: `rxInfo[0].rssi`. */
function pathOf(steps: readonly Step[]): string {
  return steps.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

const DROP = Symbol('drop');
/** JSON.stringify cannot write 1e400; this string is swapped for it in the text. */
const INFINITE = '\u0001infinite';
const REPLACEMENTS: readonly unknown[] = [DROP, null, '', [], {}, INFINITE, 1e20, -1, 1.5, true];

function mutated(root: unknown, steps: readonly Step[], replacement: unknown): Buffer {
  const copy = structuredClone(root) as Record<Step, unknown>;
  let parent = copy;
  for (const step of steps.slice(0, -1)) parent = parent[step] as Record<Step, unknown>;
  const last = steps[steps.length - 1]!;
  if (replacement !== DROP) parent[last] = replacement;
  else if (Array.isArray(parent)) parent.splice(last as number, 1);
  else delete parent[last];
  return Buffer.from(JSON.stringify(copy).replaceAll(JSON.stringify(INFINITE), '1e400'));
}

/** What an accepted event must hold, whatever came in. */
function malformations(event: UplinkEvent): string[] {
  const wrong: string[] = [];
  const check = (ok: boolean, what: string): void => {
    if (!ok) wrong.push(what);
  };
  const isTime = (ms: number): boolean => Number.isFinite(ms);
  if (event.kind === 'ignored') {
    check(event.devEui === undefined || /^[0-9a-f]{16}$/.test(event.devEui), `devEui ${event.devEui}`);
    check(typeof event.why === 'string' && event.why !== '', 'why');
    return wrong;
  }
  check(/^[0-9a-f]{16}$/.test(event.devEui), `devEui ${event.devEui}`);
  check(isTime(event.receivedAtMs), `receivedAtMs ${event.receivedAtMs}`);
  switch (event.kind) {
    case 'up':
      check(event.fPort === undefined || (Number.isInteger(event.fPort) && event.fPort >= 1 && event.fPort <= 255), `fPort ${event.fPort}`);
      check(Number.isInteger(event.fCnt) && event.fCnt >= 0 && event.fCnt <= 0xffffffff, `fCnt ${event.fCnt}`);
      check(event.bytes === undefined || event.bytes instanceof Uint8Array, 'bytes');
      check(event.bytes !== undefined || event.decoded !== undefined || event.fPort !== undefined, 'neither bytes nor decoded nor a port');
      check(event.decoded === undefined || (typeof event.decoded === 'object' && event.decoded !== null && !Array.isArray(event.decoded)), 'decoded');
      check(event.rssi === undefined || Number.isFinite(event.rssi), `rssi ${event.rssi}`);
      check(typeof event.dedupKey === 'string' && event.dedupKey !== '', 'dedupKey');
      break;
    case 'status':
      check(event.batteryPercent === undefined || (event.batteryPercent >= 0 && event.batteryPercent <= 100), `batteryPercent ${event.batteryPercent}`);
      check(typeof event.externalPower === 'boolean', 'externalPower');
      break;
    case 'codec-error':
      check(typeof event.description === 'string', 'description');
      break;
  }
  return wrong;
}

/** `a` is `b`, or one lies inside the other (`deviceInfo` and `deviceInfo.devEui`). */
function related(a: string, b: string): boolean {
  const inside = (inner: string, outer: string): boolean => inner.startsWith(outer) && (inner.length === outer.length || inner[outer.length] === '.' || inner[outer.length] === '[');
  return inside(a, b) || inside(b, a);
}

describe('parsers on mutated fixtures', () => {
  it.each(TARGETS.map((t) => [t.name, t] as const))('%s: every mutation gives a sound ParseResult', (_, target) => {
    const root: unknown = JSON.parse(target.body.toString('utf8'));
    const problems: string[] = [];
    let tried = 0;
    for (const [parseName, parse] of target.parses) {
      const original = parse(target.body);
      for (const steps of nodes(root)) {
        const path = pathOf(steps);
        for (const replacement of REPLACEMENTS) {
          const shown = replacement === DROP ? 'dropped' : replacement === INFINITE ? '1e400' : JSON.stringify(replacement);
          const where = `${parseName} with ${path} ${shown}`;
          tried++;
          let result: ParseResult;
          try {
            result = parse(mutated(root, steps, replacement));
          } catch (err) {
            problems.push(`${where}: threw ${String(err)}`);
            continue;
          }
          if (result.ok) {
            for (const wrong of malformations(result.event)) problems.push(`${where}: accepted with ${wrong}`);
          } else if (result.reason !== 'invalid_uplink') {
            problems.push(`${where}: ${result.reason}`);
          } else {
            // The message names the mutated field (or its parent, or the field inside it that is now
            // missing), unless the fixture was refused for another reason to begin with.
            const named = result.message.slice(0, result.message.indexOf(': '));
            const sameAsBefore = !original.ok && original.message === result.message;
            // Without its join_accept (or other member of ApplicationUp's oneof) a TTS message is of no
            // kind, and the parser names the kind it reads.
            const kindRemoved = named === 'uplink_message' && steps.length === 1 && (replacement === DROP || replacement === null);
            if (!related(named, path) && !sameAsBefore && !kindRemoved) problems.push(`${where}: message names another field: ${result.message}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(tried).toBeGreaterThan(20);
  });
});

describe('parsers on broken bodies', () => {
  const parses: [string, Parse][] = [
    ['parseChirpstack(up)', (b) => parseChirpstack('up', b)],
    ['parseChirpstack(status)', (b) => parseChirpstack('status', b)],
    ['parseChirpstack(log)', (b) => parseChirpstack('log', b)],
    ['parseTts', parseTts],
  ];

  it('answers every truncation of every fixture with invalid_json, never a throw', () => {
    const problems: string[] = [];
    for (const target of TARGETS) {
      const text = target.body.toString('utf8').trimEnd();
      for (let end = 0; end < text.length; end++) {
        for (const [name, parse] of parses) {
          const result = parse(Buffer.from(text.slice(0, end)));
          if (result.ok || result.reason !== 'invalid_json') problems.push(`${name} on ${target.name} cut at ${end}: ${JSON.stringify(result)}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('answers random bytes and JSON of every kind without a throw', () => {
    let seed = 0x5eed;
    const random = (): number => {
      // mulberry32: a fixed seed, so a failure repeats.
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const bodies: Buffer[] = ['null', 'true', '0', '1e400', '"x"', '[]', '{}', '[{}]', '{"__proto__":{"deviceInfo":{"devEui":"0101010101010101"}}}', '\ufeff{}'].map((t) => Buffer.from(t));
    bodies.push(Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), Buffer.from('['.repeat(100_000)), Buffer.from(`{"deviceInfo":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}`));
    for (let i = 0; i < 300; i++) bodies.push(Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256))));
    for (const body of bodies) {
      for (const [, parse] of parses) {
        const result = parse(body);
        expect(typeof result.ok).toBe('boolean');
      }
    }
  });

  it('does not take a DevEUI from an inherited property', () => {
    const result = parseChirpstack('up', Buffer.from('{"__proto__":{"devEui":"0101010101010101"},"deviceInfo":{"__proto__":{"devEui":"0101010101010101"}},"time":"2022-07-18T09:34:15Z","fPort":1}'));
    expect(result).toEqual({ ok: false, reason: 'invalid_uplink', message: 'deviceInfo.devEui: missing' });
  });
});
