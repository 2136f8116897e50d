/**
 * The default rule set citypipe ships, assembled from the registry: each device type's
 * `rules.json` (its folder), then the rules of every type (`common-rules.json`, beside this file:
 * battery, the deadman). `npm run generate` writes it to `rules/default.json`, which the service
 * reads when the city has no rules file of its own and which a city copies to start its own;
 * `shipped-files.test.ts` fails when that file is not what this makes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../paths.js';
import { registeredTypeFolders, type TypeFolder } from '../device-types/type-folder.js';

type Json = Record<string, unknown>;

const commonRulesFile = path.join(packageRoot, 'src', 'dispatch', 'common-rules.json');

/** The default rules file's content: every type's rules (registry order), then the common ones. */
export function defaultRuleSet(folders: readonly TypeFolder[] = registeredTypeFolders()): Json {
  const common = JSON.parse(readFileSync(commonRulesFile, 'utf8')) as { description: string; settings: Json; rules: Json[] };
  const typed = folders.flatMap((f) => f.rules.map(({ id, ...rest }) => ({ id, deviceType: f.definition.name, ...rest })));
  return { description: common.description, settings: common.settings, rules: [...typed, ...common.rules], overrides: [] };
}

/** `rules/default.json` as written: short objects on one line, as a person would write the file. */
export function defaultRulesText(folders?: readonly TypeFolder[]): string {
  return `${formatRulesJson(defaultRuleSet(folders))}\n`;
}

const WIDTH = 132;

/** JSON with 2-space indents; an object or array inside a rule that fits on its line stays on one. */
export function formatRulesJson(value: unknown, indent = '', lead = 0): string {
  const inline = oneLine(value);
  if (typeof value !== 'object' || value === null) return inline;
  // The file's sections and its rules are always written out; what is inside a rule may fit a line.
  const isRule = 'id' in value;
  if (!isRule && indent.length >= 4 && indent.length + lead + inline.length <= WIDTH) return inline;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + formatRulesJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Json);
  if (entries.length === 0) return '{}';
  return `{\n${entries
    .map(([k, v]) => {
      const key = `${JSON.stringify(k)}: `;
      return inner + key + formatRulesJson(v, inner, key.length + 1);
    })
    .join(',\n')}\n${indent}}`;
}

function oneLine(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(oneLine).join(', ')}]`;
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  const entries = Object.entries(value);
  return entries.length === 0 ? '{}' : `{ ${entries.map(([k, v]) => `${JSON.stringify(k)}: ${oneLine(v)}`).join(', ')} }`;
}
