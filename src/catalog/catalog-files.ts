/**
 * The catalog folder on disk: which files count, reading one as an array of records, writing one
 * back, and serialising the edits of one process so that two never interleave.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { jsonKind } from './record-problems.js';

/** The `*.json` files of the folder, sorted; a missing folder or a file in its place is `CATALOG_INVALID`. */
export async function listCatalogFiles(dir: string): Promise<string[]> {
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CitypipeError(
        ErrorCodes.CATALOG_INVALID,
        `device catalog folder ${dir}${path.resolve(dir) === dir ? '' : ` (${path.resolve(dir)})`} does not exist. Create it (empty is fine: \`npx citypipe devices add\` registers devices there), or set CITYPIPE_DEVICES_DIR to the folder that holds the device JSON files.`,
        { cause: err },
      );
    }
    throw new CitypipeError(ErrorCodes.CATALOG_INVALID, `device catalog folder ${dir} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isDirectory()) {
    throw new CitypipeError(
      ErrorCodes.CATALOG_INVALID,
      `device catalog ${dir} is a file, not a folder. Set CITYPIPE_DEVICES_DIR to the folder that holds the device JSON files.`,
    );
  }
  const entries = await readdir(dir, { withFileTypes: true });
  // Dot files are skipped: that is where the atomic writer keeps its temporary files.
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.json') && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** A catalog file as an array of elements, or what is wrong with it. */
export type FileContent = { ok: true; value: unknown[] } | { ok: false; error: string };

/** Reads one file as a JSON array; never throws. */
export async function readCatalogFile(dir: string, name: string, opts: { missingIsEmpty?: boolean } = {}): Promise<FileContent> {
  let text: string;
  try {
    text = await readFile(path.join(dir, name), 'utf8');
  } catch (err) {
    if (opts.missingIsEmpty && (err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, value: [] };
    return { ok: false, error: `cannot be read: ${(err as Error).message}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `is not valid JSON: ${(err as Error).message}` };
  }
  if (!Array.isArray(value)) {
    return { ok: false, error: `must be a JSON array of device records, got ${jsonKind(value)}` };
  }
  return { ok: true, value };
}

/** How citypipe writes a catalog file: indented, one element after another, a final newline. */
export function serialize(records: readonly unknown[]): string {
  return JSON.stringify(records, null, 2) + '\n';
}

const folderLocks = new Map<string, Promise<unknown>>();

/**
 * Serialises read-modify-write of catalog files within this process. Two separate `citypipe devices`
 * processes racing on the same folder are not guarded against; the rename keeps each file whole.
 */
export async function withFolderLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const key = path.resolve(dir);
  const previous = folderLocks.get(key) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  folderLocks.set(key, settled);
  try {
    return await run;
  } finally {
    if (folderLocks.get(key) === settled) folderLocks.delete(key);
  }
}
