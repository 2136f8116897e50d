/**
 * Files only citypipe's own user may read. Everything under CITYPIPE_DATA_DIR holds what the city
 * would not publish: payloads in the spool and the dead letters, ticket locations, rule state. The
 * data folder is 0700 and the files in it 0600, whatever the process's umask.
 */
import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and its parents) if missing, and makes it 0700. */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/**
 * Makes `dir` 0700 and everything in it 0700 (folders) or 0600 (files): the data folder of an
 * earlier version, created with the umask's 0755/0644.
 */
export function makePrivateTree(dir: string): void {
  makePrivateDir(dir);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) makePrivateTree(p);
    else if (entry.isFile()) chmodSync(p, PRIVATE_FILE_MODE);
  }
}

/**
 * Opens a SQLite database whose files are 0600 (SQLite gives its -wal and -shm files the database
 * file's mode, so creating that one 0600 first is enough). `':memory:'` is passed through.
 */
export function openPrivateDatabase(file: string): Database.Database {
  if (file !== ':memory:') {
    makePrivateDir(path.dirname(file));
    closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f) && !lstatSync(f).isSymbolicLink()) chmodSync(f, PRIVATE_FILE_MODE);
  }
  return new Database(file);
}
