/**
 * Files citypipe ships that are assembled from the device-type registry and committed, so that a
 * city (and Grafana's provisioning) finds them as plain files: `rules/default.json` and
 * `grafana/dashboards/*.json`. `npm run generate` writes them (write.ts); `shipped-files.test.ts`
 * fails when a committed one differs from what this makes.
 */
import { registeredTypeFolders, type TypeFolder } from '../device-types/type-folder.js';
import { defaultRulesText } from '../dispatch/default-rules.js';
import { boardFiles } from '../grafana/boards.js';

/** The folder of the generated boards, relative to the package root: nothing else is in it. */
export const dashboardsDir = 'grafana/dashboards';

/** Path relative to the package root → content, for every generated file. */
export function shippedFiles(folders: readonly TypeFolder[] = registeredTypeFolders()): Map<string, string> {
  const files = new Map<string, string>([['rules/default.json', defaultRulesText(folders)]]);
  for (const b of boardFiles(folders)) files.set(`${dashboardsDir}/${b.file}`, `${JSON.stringify(b.dashboard, null, 2)}\n`);
  return files;
}
