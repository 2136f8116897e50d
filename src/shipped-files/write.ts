/**
 * `npm run generate`: writes the files assembled from the registry (shipped-files.ts) and removes
 * boards in grafana/dashboards/ that nothing generates any more (a type taken out of the registry).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../paths.js';
import { dashboardsDir, shippedFiles } from './shipped-files.js';

const files = shippedFiles();
for (const [rel, text] of files) {
  const file = path.join(packageRoot, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}
for (const name of readdirSync(path.join(packageRoot, dashboardsDir))) {
  if (name.endsWith('.json') && !files.has(`${dashboardsDir}/${name}`)) rmSync(path.join(packageRoot, dashboardsDir, name));
}
process.stdout.write(`wrote ${[...files.keys()].join(', ')}\n`);
