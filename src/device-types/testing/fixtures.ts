/**
 * A device type's fixtures as the tests use them: its own (`fixtures/valid.json`, `invalid.json`)
 * plus the shared common-field cases (`common/fixtures/`: ts, seq, batteryLevel, rssi), each put on
 * top of the type's smallest valid reading (`fixtures/base.json`). So a type's folder holds only
 * cases about its own fields, and every type is held to every common-field case.
 *
 * Absolute `ts` values are written against one receive time, {@link FIXTURE_RECEIVED_AT}.
 */
import { existsSync, readFileSync } from 'node:fs';

/** The receive time the fixtures' absolute `ts` values are written against, so they never go stale. */
export const FIXTURE_RECEIVED_AT = Date.parse('2026-06-01T12:00:00Z');

export interface ValidFixture {
  readonly name: string;
  readonly reading: Record<string, unknown>;
}

export interface InvalidFixture extends ValidFixture {
  /** The dead-letter reason it must get. */
  readonly reason: string;
  /** The field the dead letter must name. */
  readonly path: string;
}

export interface TypeFixtures {
  readonly valid: ValidFixture[];
  readonly invalid: InvalidFixture[];
  /** The type's smallest valid reading, which the common-field cases are put on. */
  readonly base: Record<string, unknown>;
}

const commonFolder = new URL('../common/fixtures/', import.meta.url);

/** A missing file reads as `fallback`, so that the test naming the missing file is what fails. */
function readJson<T>(url: URL, fallback: T): T {
  return existsSync(url) ? (JSON.parse(readFileSync(url, 'utf8')) as T) : fallback;
}

/** The folder of a registered type (`src/device-types/<name>/`). */
export function typeFolder(name: string): URL {
  return new URL(`../${name}/`, import.meta.url);
}

/** Only the folder's own fixtures, without the common-field cases. */
export function ownFixtures(folder: URL): TypeFixtures {
  return {
    valid: readJson<ValidFixture[]>(new URL('fixtures/valid.json', folder), []),
    invalid: readJson<InvalidFixture[]>(new URL('fixtures/invalid.json', folder), []),
    base: readJson<Record<string, unknown>>(new URL('fixtures/base.json', folder), {}),
  };
}

/** The type's fixtures and the common-field cases on its base reading (named `common: …`). */
export function typeFixtures(folder: URL): TypeFixtures {
  const own = ownFixtures(folder);
  const onBase = <F extends ValidFixture>(f: F): F => ({ ...f, name: `common: ${f.name}`, reading: { ...f.reading, ...own.base } });
  return {
    valid: [...own.valid, ...readJson<ValidFixture[]>(new URL('valid.json', commonFolder), []).map(onBase)],
    invalid: [...own.invalid, ...readJson<InvalidFixture[]>(new URL('invalid.json', commonFolder), []).map(onBase)],
    base: own.base,
  };
}
