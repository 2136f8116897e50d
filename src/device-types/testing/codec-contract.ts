/**
 * The contract every LoRaWAN device model (`<type>/models/<model>/`) passes: its golden vectors
 * (bytes → the vendor decoder's output → citypipe's fields), its refusals, and totality (no prefix of
 * a vector and no random bytes make it throw). Each model folder's `codec.test.ts` runs it:
 *
 *     describeLorawanModel(em400udl, wasteBin, new URL('./', import.meta.url));
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { hexBytes, type LorawanModel } from '../lorawan.js';
import type { DeviceTypeDefinition } from '../types.js';
import { commonFields } from '../common/fields.js';
import { mulberry32 } from '../../../simulators/prng.js';

/** The files of a model folder. */
export const MODEL_FOLDER_FILES = ['index.ts', 'codec.ts', 'codec.test.ts', 'vectors.json', 'README.md'] as const;

const hex = z.string().regex(/^(?:[0-9a-fA-F]{2})+$/, 'hex bytes, no spaces');

/** `vectors.json`: golden vectors recorded by running the vendor's decoder on each `bytes`. */
export const vectorsFile = z.strictObject({
  /** The vendor decoder: repository, file and version or commit (the model's `vectorsFrom`). */
  source: z.string().min(10),
  vectors: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        fPort: z.number().int().min(1).max(223),
        bytes: hex,
        /** What the vendor's decoder returned for these bytes. */
        vendor: z.record(z.string(), z.unknown()),
        /** What citypipe's codec returns: the type's field names. */
        fields: z.record(z.string(), z.union([z.number(), z.string()])),
        batteryPercent: z.number().min(0).max(100).optional(),
      }),
    )
    .min(2),
  invalid: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        fPort: z.number().int().min(1).max(223),
        bytes: z.union([hex, z.literal('')]),
        /** A part of the reason the codec must give. */
        reason: z.string().min(1),
      }),
    )
    .min(2),
});

/**
 * Runs the contract for one model of type `def`; `folder` is its folder (a `file:` URL ending in `/`).
 * `extraFields` are fields the codec may return that the type's `complete` turns into its own.
 */
export function describeLorawanModel(model: LorawanModel, def: DeviceTypeDefinition, folder: URL, extraFields: readonly string[] = []): void {
  describe(`LoRaWAN model ${model.name} (${def.name})`, () => {
    it.each(MODEL_FOLDER_FILES)('has %s in its folder', (file) => {
      expect(existsSync(new URL(file, folder)), `${model.name}/${file}`).toBe(true);
    });

    const file = vectorsFile.parse(JSON.parse(readFileSync(new URL('vectors.json', folder), 'utf8')));
    const known = new Set([...Object.keys(def.fields), ...Object.keys(commonFields), ...extraFields]);

    it('names the vendor decoder its vectors come from, in its module and its README', () => {
      expect(model.vectorsFrom).toBe(file.source);
      const readme = readFileSync(new URL('README.md', folder), 'utf8');
      expect(readme).toContain(model.name);
      expect(readme).toContain(file.source);
    });

    it.each(file.vectors.map((v) => [v.name, v] as const))('decodes golden vector %s', (_name, v) => {
      const out = model.decode(hexBytes(v.bytes), v.fPort);
      expect(out).toEqual({ ok: true, fields: v.fields, ...(v.batteryPercent === undefined ? {} : { batteryPercent: v.batteryPercent }) });
      for (const k of Object.keys(v.fields)) expect(known.has(k), `${k} is not a field of ${def.name}`).toBe(true);
    });

    it.each(file.invalid.map((v) => [v.name, v] as const))('refuses %s with the reason', (_name, v) => {
      const out = model.decode(hexBytes(v.bytes), v.fPort);
      expect(out.ok).toBe(false);
      if (!out.ok) {
        expect(out.reason).toContain(v.reason);
        expect(out.reason).toMatch(/^fPort \d+: /);
      }
    });

    it('never throws: every prefix of every vector, and seeded random bytes on its ports', () => {
      const ports = [...new Set(file.vectors.map((v) => v.fPort)), 1, 2, 100, 223];
      for (const v of file.vectors) {
        const bytes = hexBytes(v.bytes);
        for (let n = 0; n < bytes.length; n++) {
          const out = model.decode(bytes.subarray(0, n), v.fPort);
          expect(typeof out.ok, `${v.name} cut to ${n} bytes`).toBe('boolean');
          if (n === 0) expect(out.ok).toBe(false);
        }
      }
      const rng = mulberry32(11);
      for (let i = 0; i < 3000; i++) {
        const bytes = Uint8Array.from({ length: 1 + Math.floor(rng() * 24) }, () => Math.floor(rng() * 256));
        const out = model.decode(bytes, ports[i % ports.length]!);
        expect(typeof out.ok).toBe('boolean');
        if (out.ok) for (const [k, value] of Object.entries(out.fields)) expect(known.has(k) && (typeof value === 'string' || Number.isFinite(value)), `${k}=${String(value)}`).toBe(true);
      }
    });
  });
}

/**
 * The simulator's encoder against the codec: for every golden vector that carries a reading, the
 * frames `encode` makes of its fields (and battery) decode back to those fields, numbers to within
 * `tolerance` (the wire format's precision, e.g. 0.1 for a temperature in tenths).
 */
export function describeEncoder(model: LorawanModel, folder: URL, tolerance: Readonly<Record<string, number>> = {}): void {
  const file = vectorsFile.parse(JSON.parse(readFileSync(new URL('vectors.json', folder), 'utf8')));
  describe(`LoRaWAN model ${model.name}: the simulator's encoder`, () => {
    it.each(file.vectors.filter((v) => Object.keys(v.fields).length > 0).map((v) => [v.name, v] as const))('round-trips %s', (_name, v) => {
      const frames = model.encode(v.fields, v.batteryPercent);
      expect(frames.length).toBeGreaterThan(0);
      const back: Record<string, number | string> = {};
      for (const f of frames) {
        const out = model.decode(f.bytes, f.fPort);
        expect(out.ok, `${Buffer.from(f.bytes).toString('hex')} on ${f.fPort}: ${out.ok ? '' : out.reason}`).toBe(true);
        if (out.ok) Object.assign(back, out.fields);
      }
      for (const [k, want] of Object.entries(v.fields)) {
        if (typeof want === 'number') expect(Math.abs((back[k] as number) - want), `${k}: ${String(back[k])} for ${want}`).toBeLessThanOrEqual(tolerance[k] ?? 1e-9);
        else expect(back[k], k).toBe(want);
      }
    });
  });
}
