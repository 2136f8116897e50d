/**
 * The cursor: the first seq not yet acknowledged, in `<dir>/cursor`. Replaced atomically (write a
 * temporary file, fsync it, rename it over the old one, fsync the directory), so after a crash the
 * file holds either the old or the new value, never a mix.
 */
import path from 'node:path';
import { errnoCode, fsyncDir, type SpoolFs } from './spool-fs.js';

export const CURSOR_FILE = 'cursor';
export const CURSOR_TEMP_FILE = 'cursor.tmp';

/** What `readCursor` found. */
export type CursorRead =
  | { readonly kind: 'missing' }
  | { readonly kind: 'ok'; readonly firstUnacked: number }
  | { readonly kind: 'invalid'; readonly content: string };

export async function readCursor(fsx: SpoolFs, dir: string): Promise<CursorRead> {
  let text: string;
  try {
    text = (await fsx.readFile(path.join(dir, CURSOR_FILE))).toString('utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { kind: 'missing' };
    throw err;
  }
  try {
    const value = (JSON.parse(text) as { firstUnacked?: unknown }).firstUnacked;
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return { kind: 'ok', firstUnacked: value };
  } catch {
    // falls through to 'invalid'
  }
  return { kind: 'invalid', content: text.slice(0, 200) };
}

/** Replaces the cursor; with `durable` false the fsyncs are skipped (benchmarks only). */
export async function writeCursor(fsx: SpoolFs, dir: string, firstUnacked: number, durable: boolean): Promise<void> {
  const temp = path.join(dir, CURSOR_TEMP_FILE);
  const body = Buffer.from(`${JSON.stringify({ firstUnacked })}\n`);
  const fd = await fsx.open(temp, 'w');
  try {
    let written = 0;
    while (written < body.length) written += await fsx.write(fd, body, written, body.length - written, written);
    if (durable) await fsx.fsync(fd);
  } finally {
    await fsx.close(fd);
  }
  await fsx.rename(temp, path.join(dir, CURSOR_FILE));
  if (durable) await fsyncDir(fsx, dir);
}
