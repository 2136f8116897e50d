/**
 * What a device type's folder holds besides its definition, for the files citypipe ships that are
 * assembled from every type: its default rules (`rules.json`, for `rules/default.json`) and its
 * Grafana board (`grafana.json`, for `grafana/dashboards/`). Read when those files are generated and
 * by their tests, never by the running service: the service reads the generated files.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../paths.js';
import { deviceTypes } from './registry.js';
import type { DeviceTypeDefinition } from './types.js';

/** One rule of the rules-file format (src/dispatch/README.md), without `deviceType`: the folder's type. */
export type TypeRule = { readonly id: string } & Readonly<Record<string, unknown>>;

/** A Grafana panel, as Grafana's dashboard JSON has it. */
export type Panel = Readonly<Record<string, unknown>>;

/** The type's own board: its identity and panels; the generator adds the variables and annotations. */
export interface TypeBoard {
  /** Grafana uid, `citypipe-<file name>`: `citypipe-waste` is written to `grafana/dashboards/waste.json`. */
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  /** Label of the board's device variable, e.g. `Bin`. */
  readonly deviceLabel: string;
  /** What the city overview calls these devices; default: the definition's `plural` (`waste bins`). */
  readonly plural?: string;
  readonly panels: readonly Panel[];
}

/** A device type with what its folder adds. */
export interface TypeFolder {
  readonly definition: DeviceTypeDefinition;
  /** The folder, e.g. `src/device-types/waste-bin`. */
  readonly dir: string;
  /** Its default rules (`rules.json`); none when the folder has no such file. */
  readonly rules: readonly TypeRule[];
  /** Its board (`grafana.json`); undefined when the board is generated from the definition. */
  readonly board: TypeBoard | undefined;
}

const typesDir = path.join(packageRoot, 'src', 'device-types');

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${path.relative(packageRoot, file)}: ${(err as Error).message}`);
  }
}

function checkRules(value: unknown, file: string, type: string): TypeRule[] {
  const where = path.relative(packageRoot, file);
  if (!Array.isArray(value)) throw new Error(`${where}: must be an array of rules`);
  return value.map((r: unknown, i) => {
    const rule = r as Partial<TypeRule> | null;
    if (typeof rule !== 'object' || rule === null || typeof rule.id !== 'string') throw new Error(`${where}: [${i}] must be a rule with an id`);
    if ('deviceType' in rule) throw new Error(`${where}: rule "${rule.id}": leave out deviceType, the folder's type (${type}) is implied`);
    return rule as TypeRule;
  });
}

function checkBoard(value: unknown, file: string): TypeBoard {
  const where = path.relative(packageRoot, file);
  const b = value as Partial<TypeBoard> | null;
  for (const key of ['uid', 'title', 'description', 'deviceLabel'] as const) {
    if (typeof b?.[key] !== 'string' || b[key] === '') throw new Error(`${where}: ${key} must be a non-empty string`);
  }
  if (!b!.uid!.startsWith('citypipe-')) throw new Error(`${where}: uid must start with "citypipe-" (the rest names the file)`);
  if (!Array.isArray(b!.panels)) throw new Error(`${where}: panels must be an array`);
  return b as TypeBoard;
}

/**
 * A type's folder as the generators read it: `rules.json` and `grafana.json`, both optional.
 * `dir` defaults to the type's folder beside the registry; a test can point at another.
 */
export function typeFolder(definition: DeviceTypeDefinition, dir: string = path.join(typesDir, definition.name)): TypeFolder {
  const rulesFile = path.join(dir, 'rules.json');
  const boardFile = path.join(dir, 'grafana.json');
  return {
    definition,
    dir,
    rules: existsSync(rulesFile) ? checkRules(readJson(rulesFile), rulesFile, definition.name) : [],
    board: existsSync(boardFile) ? checkBoard(readJson(boardFile), boardFile) : undefined,
  };
}

/** Every registered type's folder, in registry order. */
export function registeredTypeFolders(): TypeFolder[] {
  return deviceTypes.map((d) => typeFolder(d));
}
