/**
 * Plaintext device secrets for the simulator: `{ "<device id>": "<secret>" }` files. They exist so
 * that simulated devices can authenticate as themselves; a real deployment never has such a file
 * (citypipe stores only hashes, and a device keeps its own secret).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../src/fs/write-file-atomic.js';

/**
 * Where `devices generate` puts the secrets of the catalog file `catalogFile`: beside it, as
 * `.<name>.credentials.json`. The leading dot matters: the catalog loader reads every other `*.json`
 * in the folder as device records (and would refuse this file), but skips dot files.
 */
export function credentialsFileFor(catalogFile: string): string {
  const dir = path.dirname(catalogFile);
  const base = path.basename(catalogFile).replace(/\.json$/i, '');
  return path.join(dir, `.${base}.credentials.json`);
}

/**
 * Reads a credentials file. A missing file gives no credentials (devices then connect with their
 * username only); anything but an object of strings is an error naming the file.
 */
export function loadCredentials(file: string): Map<string, string> {
  if (!existsSync(file)) return new Map();
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`credentials file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`credentials file ${file} must be a JSON object { "<device id>": "<secret>" }`);
  }
  const out = new Map<string, string>();
  for (const [id, secret] of Object.entries(parsed)) {
    if (typeof secret !== 'string') throw new Error(`credentials file ${file}: the secret of ${id} must be a string`);
    out.set(id, secret);
  }
  return out;
}

/**
 * Writes a credentials file readable by its owner only (0600), replacing it atomically: a secrets
 * file half-written or briefly world-readable would be worse than none.
 */
export async function writeCredentialsFile(file: string, credentials: Readonly<Record<string, string>>): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
}
