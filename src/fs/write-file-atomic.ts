import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces `file` so that a reader (the service's watcher, a crash, a concurrent `git pull`) sees the
 * old content or the new, never half of it: write a temporary file beside it, flush, rename.
 * `mode` applies to the new file (e.g. 0o600 for secrets); without it an existing file keeps its mode.
 */
export async function writeFileAtomic(file: string, data: string, opts: { mode?: number } = {}): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let mode = opts.mode ?? 0o644;
  if (opts.mode === undefined) {
    try {
      mode = (await stat(file)).mode & 0o777;
    } catch {
      // New file: default mode.
    }
  }
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // Make the rename itself durable. Not every platform can fsync a directory; the data is safe anyway.
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // best effort
  }
}
