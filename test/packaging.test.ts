/**
 * What leaves the repository: plaintext device secrets that `devices generate` writes beside a
 * generated catalog must never be committed or published in the npm package.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { root } from './helpers/cli.js';

const run = promisify(execFile);

describe('generated credentials', () => {
  it('are ignored by git', async () => {
    // check-ignore exits 0 when the path is ignored (the file need not exist).
    await expect(run('git', ['check-ignore', '-q', 'devices/.generated.credentials.json'], { cwd: root })).resolves.toBeDefined();
  });

  it('are left out of the npm package, while the catalog folder and the demo fleet are in it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-pack-'));
    copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    cpSync(path.join(root, 'devices'), path.join(dir, 'devices'), { recursive: true });
    cpSync(path.join(root, 'simulators', 'demo-fleet'), path.join(dir, 'simulators', 'demo-fleet'), { recursive: true });
    writeFileSync(path.join(dir, 'devices', '.generated.credentials.json'), '{"bin-1":"plaintext"}');
    writeFileSync(path.join(dir, 'devices', 'generated.json'), '[]');
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir });
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toContain('devices/generated.json');
    expect(files).toContain('simulators/demo-fleet/waste-bins.json');
    expect(files.filter((f) => f.includes('credentials.json') && f.startsWith('devices/'))).toEqual([]);
  });
});

describe('set-up (scripts/setup.sh, which `npm run demo` and `npm test` run first)', () => {
  it('does nothing and says nothing the second time (under `npm test` the first run was its pretest)', async () => {
    await run('bash', ['scripts/setup.sh', '--with-test-tools', '--quiet'], { cwd: root });
    const { stdout, stderr } = await run('bash', ['scripts/setup.sh', '--with-test-tools', '--quiet'], { cwd: root });
    expect(stdout).toBe('');
    expect(stderr).toBe('');
  }, 120_000);

  it('refuses an option it does not know, naming the ones it does', async () => {
    const err = await run('bash', ['scripts/setup.sh', '--sudo'], { cwd: root }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/unknown option --sudo \(use --with-test-tools, --quiet\)/);
  });
});
