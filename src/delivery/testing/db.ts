/** A real SQLite file in a fresh temp dir, as the ticket store would open it. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';

export interface TempDb {
  readonly file: string;
  db: Database.Database;
  /** Closes and opens the same file again, as after a restart. */
  reopen(): Database.Database;
  cleanup(): void;
}

export function tempDb(): TempDb {
  const dir = mkdtempSync(path.join(tmpdir(), 'citypipe-delivery-'));
  const file = path.join(dir, 'tickets.db');
  const open = (): Database.Database => {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    return db;
  };
  const t: TempDb = {
    file,
    db: open(),
    reopen() {
      if (t.db.open) t.db.close();
      t.db = open();
      return t.db;
    },
    cleanup() {
      if (t.db.open) t.db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}
