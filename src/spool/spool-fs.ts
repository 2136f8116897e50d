/**
 * The file operations the spool uses, as one small interface so tests can count fdatasyncs, slow
 * them down, or fail a write with ENOSPC. Every call goes through libuv's thread pool: the event
 * loop never waits for the disk.
 */
import fs from 'node:fs';

/** File operations on numeric descriptors, promise-shaped. */
export interface SpoolFs {
  open(path: string, flags: string): Promise<number>;
  close(fd: number): Promise<void>;
  /** pwrite: may write fewer bytes than asked; resolves with how many it wrote. */
  write(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** pread: resolves with the bytes read, 0 at end of file. */
  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  size(fd: number): Promise<number>;
  readdir(path: string): Promise<string[]>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** mkdir -p */
  mkdir(path: string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
}

// Callback fs wrapped by hand: fs/promises' FileHandle would allocate a handle object per file and
// hide the descriptor that tests want to see.
function call<T>(fn: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

/** The real file system. */
export const nodeSpoolFs: SpoolFs = {
  open: (path, flags) => call<number>((cb) => fs.open(path, flags, 0o600, cb)),
  close: (fd) => call<void>((cb) => fs.close(fd, (err) => cb(err, undefined))),
  write: (fd, buffer, offset, length, position) => call<number>((cb) => fs.write(fd, buffer, offset, length, position, (err, n) => cb(err, n))),
  read: (fd, buffer, offset, length, position) => call<number>((cb) => fs.read(fd, buffer, offset, length, position, (err, n) => cb(err, n))),
  fdatasync: (fd) => call<void>((cb) => fs.fdatasync(fd, (err) => cb(err, undefined))),
  fsync: (fd) => call<void>((cb) => fs.fsync(fd, (err) => cb(err, undefined))),
  ftruncate: (fd, length) => call<void>((cb) => fs.ftruncate(fd, length, (err) => cb(err, undefined))),
  size: (fd) => call<number>((cb) => fs.fstat(fd, (err, st) => cb(err, st?.size ?? 0))),
  readdir: (path) => call<string[]>((cb) => fs.readdir(path, cb)),
  unlink: (path) => call<void>((cb) => fs.unlink(path, (err) => cb(err, undefined))),
  rename: (from, to) => call<void>((cb) => fs.rename(from, to, (err) => cb(err, undefined))),
  mkdir: (path) => call<void>((cb) => fs.mkdir(path, { recursive: true, mode: 0o700 }, (err) => cb(err, undefined))),
  readFile: (path) => call<Buffer>((cb) => fs.readFile(path, cb)),
};

/** Makes a directory entry change (a created, renamed or removed file) durable. */
export async function fsyncDir(fsx: SpoolFs, dir: string): Promise<void> {
  const fd = await fsx.open(dir, 'r');
  try {
    await fsx.fsync(fd);
  } finally {
    await fsx.close(fd);
  }
}

/** Reads exactly `length` bytes unless the file ends first; resolves with the bytes read. */
export async function readFully(fsx: SpoolFs, fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await fsx.read(fd, buffer, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** The errno code of a file-system error, if it has one. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
