/**
 * Where the installed package lives, so commands find shipped files (the demo fleet's credentials,
 * grafana/) the same way from src/ under vitest and from dist/ after a build.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(from: string): string {
  let dir = from;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'citypipe') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`citypipe package root not found above ${from}`);
    dir = parent;
  }
}

export const packageRoot = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/** Plaintext secrets of the shipped demo fleet (demo only; see simulators/README.md). */
export const demoCredentialsFile = path.join(packageRoot, 'simulators', 'demo-credentials.json');

/** The shipped demo fleet's catalog: what `demo` drives unless CITYPIPE_DEVICES_DIR names another. */
export const demoFleetDir = path.join(packageRoot, 'simulators', 'demo-fleet');

/** citypipe's version, from its package.json. */
export const packageVersion: string = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
