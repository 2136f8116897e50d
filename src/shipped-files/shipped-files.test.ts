/**
 * The committed files assembled from the registry are what the generator makes from the type
 * folders, and every registered type has its rules and its board in them.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../paths.js';
import { deviceTypes, wasteBin } from '../device-types/registry.js';
import { registeredTypeFolders, typeFolder } from '../device-types/type-folder.js';
import { defaultRuleSet } from '../dispatch/default-rules.js';
import { RuleBook } from '../dispatch/rules/rule-book.js';
import { boardFiles, overviewTargets, presenceField, typeBoard } from '../grafana/boards.js';
import { dashboardsDir, shippedFiles } from './shipped-files.js';

const files = shippedFiles();

describe('the committed generated files', () => {
  it.each([...files.keys()])('%s is what `npm run generate` makes from the type folders', (rel) => {
    const committed = existsSync(path.join(packageRoot, rel)) ? readFileSync(path.join(packageRoot, rel), 'utf8') : '(missing)';
    expect(committed === files.get(rel), `${rel} differs from what the generator makes: edit the sources (src/device-types/*/, src/dispatch/common-rules.json, src/grafana/), then run npm run generate`).toBe(true);
  });

  it(`${dashboardsDir}/ holds only generated boards`, () => {
    const onDisk = readdirSync(path.join(packageRoot, dashboardsDir)).map((f) => `${dashboardsDir}/${f}`);
    expect(onDisk.filter((f) => !files.has(f))).toEqual([]);
  });
});

describe.each(registeredTypeFolders().map((f) => [f.definition.name, f] as const))('device type %s', (name, folder) => {
  it('has the rules of its folder (rules.json, if any) in the default rule set, as rules of its type', () => {
    const book = RuleBook.parse(defaultRuleSet(), 'default rules');
    expect(book.rules.filter((r) => r.deviceType === name).map((r) => r.id)).toEqual(folder.rules.map((r) => r.id));
  });

  it('has a board (its grafana.json, or one generated from its fields), filtered by district and device, and its row of the city overview', () => {
    const boards = boardFiles();
    const own = boards.find((b) => b.file === typeBoard(folder).file);
    expect(own).toBeDefined();
    expect(JSON.stringify((own!.dashboard['templating'] as { list: unknown[] }).list)).toContain(`SHOW TAG VALUES FROM \\"${folder.definition.measurement}\\" WITH KEY = \\"device_id\\"`);
    const overview = JSON.stringify(boards.find((b) => b.file === 'city-overview.json')!.dashboard);
    expect(overview).toContain(`FROM \\"${folder.definition.measurement}\\"`);
  });
});

describe('a type folder', () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'citypipe-type-folder-'));
  afterAll(() => rmSync(empty, { recursive: true, force: true }));

  it('without rules.json or grafana.json gets no rules and a board generated from its definition', () => {
    const bare = typeFolder(wasteBin, empty);
    expect(bare.rules).toEqual([]);
    const boards = boardFiles([bare]);
    const board = boards.find((b) => b.file === 'waste-bin.json')!.dashboard as { title: string; panels: { title: string; targets: { query: string }[] }[] };
    expect(board.title).toBe('citypipe · Waste bins');
    expect(board.panels.map((p) => p.title)).toEqual(Object.keys(wasteBin.fields));
    expect(board.panels.find((p) => p.title === 'status')!.targets[0]!.query).toBe(
      'SELECT last("status") AS "status" FROM "waste_bin" WHERE $timeFilter AND "district" =~ /^$district$/ AND "device_id" =~ /^$device$/ GROUP BY "device_id", "district"',
    );
  });

  it('counts its devices and readings in the city overview by its first required field', () => {
    expect(deviceTypes.map(presenceField)).toEqual(deviceTypes.map((d) => Object.entries(d.fields).find(([, b]) => b.required)![0]));
    const { devicesReporting, readingsPerSecond } = overviewTargets(typeFolder(wasteBin, empty), 'D');
    expect(devicesReporting).toMatchObject({
      refId: 'D',
      alias: 'waste bins',
      query: 'SELECT count("fillingLevel") AS "waste_bin" FROM (SELECT last("fillingLevel") AS "fillingLevel" FROM "waste_bin" WHERE $timeFilter AND "district" =~ /^$district$/ GROUP BY "device_id")',
    });
    expect(readingsPerSecond).toMatchObject({ refId: 'D', query: 'SELECT count("fillingLevel") * 1000 / $__interval_ms AS "waste bins" FROM "waste_bin" WHERE $timeFilter AND "district" =~ /^$district$/ GROUP BY time($__interval)' });
  });
});
