/**
 * The device catalog: which devices exist, where they are, and how they authenticate (CONTRACT §3).
 *
 * Loaded from a folder of JSON files, each an array of device records. The folder is data the city
 * edits by hand or through `citypipe devices add`, so every error names the file, the record and the
 * key, and a running service keeps its last good catalog when an edit breaks one.
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import type { z } from 'zod';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import type { Logger } from '../observability/logger.js';
import { generateSecret, hashSecretAsync, verifySecret, verifySecretAsync } from './secrets.js';
import { deviceRecordSchema, type DeviceRecord } from './types.js';

/** The outcome of a device's CONNECT credentials check. */
export type AuthResult = 'ok' | 'unknown_device' | 'revoked' | 'no_secret' | 'bad_secret';

/** What `addDevice` takes: a device record without a secret (one is generated). */
export type NewDevice = Omit<z.input<typeof deviceRecordSchema>, 'secretHash'>;

/** Where `addDevice` writes, inside the catalog folder. */
export const REGISTERED_FILE = 'registered.json';

/** Lines of an invalid-catalog error beyond which the rest are only counted. */
const MAX_REPORTED_PROBLEMS = 50;

interface Problem {
  readonly duplicate: boolean;
  readonly text: string;
}

/** An immutable, validated snapshot of the catalog folder. Reloading yields a new instance. */
export class DeviceCatalog {
  /** The folder this catalog was loaded from (as given). */
  readonly dir: string;
  private readonly byId: ReadonlyMap<string, DeviceRecord>;
  private readonly fileById: ReadonlyMap<string, string>;
  private readonly records: readonly DeviceRecord[];

  private constructor(dir: string, byId: Map<string, DeviceRecord>, fileById: Map<string, string>) {
    this.dir = dir;
    this.byId = byId;
    this.fileById = fileById;
    this.records = Object.freeze([...byId.values()]);
  }

  /**
   * Reads and validates every `*.json` file in `dir`. Throws a {@link CitypipeError}:
   * `CATALOG_INVALID` listing every bad record (`devices/bins.json[3] (bin-0004): location.lat: must be
   * ≤ 90, got 95`) or a missing folder; `CATALOG_DUPLICATE` naming both places an id appears.
   */
  static async load(dir: string): Promise<DeviceCatalog> {
    const names = await listCatalogFiles(dir);
    const contents = await Promise.all(names.map(async (name) => [name, await readCatalogFile(dir, name)] as const));

    const problems: Problem[] = [];
    const byId = new Map<string, DeviceRecord>();
    const fileById = new Map<string, string>();
    const placeById = new Map<string, string>();
    for (const [name, content] of contents) {
      const file = path.join(dir, name);
      if (!content.ok) {
        problems.push({ duplicate: false, text: `${file}: ${content.error}` });
        continue;
      }
      content.value.forEach((element, index) => {
        const place = `${file}[${index}]`;
        const parsed = deviceRecordSchema.safeParse(element);
        if (!parsed.success) {
          const label = `${place}${idLabel(element)}`;
          for (const issue of parsed.error.issues) problems.push({ duplicate: false, text: `${label}: ${describeIssue(issue, element)}` });
          return;
        }
        const record = parsed.data;
        const first = placeById.get(record.id);
        if (first !== undefined) {
          problems.push({ duplicate: true, text: `device id ${record.id} appears twice: ${first} and ${place}` });
          return;
        }
        placeById.set(record.id, place);
        byId.set(record.id, deepFreeze(record));
        fileById.set(record.id, file);
      });
    }
    if (problems.length > 0) throw catalogError(`device catalog ${dir} is invalid`, problems);
    return new DeviceCatalog(dir, byId, fileById);
  }

  /**
   * A catalog from records in memory (tests, embedding). Validated like a file; `source` names them in
   * errors.
   */
  static fromRecords(records: readonly unknown[], source = '(memory)'): DeviceCatalog {
    const problems: Problem[] = [];
    const byId = new Map<string, DeviceRecord>();
    const fileById = new Map<string, string>();
    records.forEach((element, index) => {
      const parsed = deviceRecordSchema.safeParse(element);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          problems.push({ duplicate: false, text: `${source}[${index}]${idLabel(element)}: ${describeIssue(issue, element)}` });
        }
      } else if (byId.has(parsed.data.id)) {
        problems.push({ duplicate: true, text: `device id ${parsed.data.id} appears twice in ${source}` });
      } else {
        byId.set(parsed.data.id, deepFreeze(parsed.data));
        fileById.set(parsed.data.id, source);
      }
    });
    if (problems.length > 0) throw catalogError(`device records ${source} are invalid`, problems);
    return new DeviceCatalog(source, byId, fileById);
  }

  /** The device with this id, or undefined. One Map lookup: safe on the per-message path. */
  get(id: string): DeviceRecord | undefined {
    return this.byId.get(id);
  }

  /** Number of devices. */
  get size(): number {
    return this.byId.size;
  }

  /** Every device, in file-name order then array order. Frozen. */
  all(): readonly DeviceRecord[] {
    return this.records;
  }

  /** The file that holds this device's record, or undefined. */
  fileOf(id: string): string | undefined {
    return this.fileById.get(id);
  }

  /**
   * Checks a device's MQTT credentials (username = device id). Blocks for one scrypt hash (~2 ms);
   * the broker should prefer {@link authenticateAsync}.
   *
   * An unknown id answers at once, without a decoy hash: device ids are not secret (every topic
   * carries one), so the timing difference reveals nothing an attacker could not read off the wire.
   */
  authenticate(id: string, password: string | Uint8Array | undefined): AuthResult {
    const record = this.byId.get(id);
    if (record === undefined) return 'unknown_device';
    if (record.revokedAt !== undefined) return 'revoked';
    if (record.secretHash === undefined) return 'no_secret';
    if (password === undefined) return 'bad_secret';
    return verifySecret(password, record.secretHash) ? 'ok' : 'bad_secret';
  }

  /** {@link authenticate} with the hash computed off the event loop. Never rejects. */
  async authenticateAsync(id: string, password: string | Uint8Array | undefined): Promise<AuthResult> {
    const record = this.byId.get(id);
    if (record === undefined) return 'unknown_device';
    if (record.revokedAt !== undefined) return 'revoked';
    if (record.secretHash === undefined) return 'no_secret';
    if (password === undefined) return 'bad_secret';
    return (await verifySecretAsync(password, record.secretHash)) ? 'ok' : 'bad_secret';
  }

  /**
   * Reloads the catalog when a file in its folder changes and hands the new one to `onChange`. An
   * invalid folder is logged and the previous catalog stays in force, so a half-saved edit never
   * takes devices offline. Returns a function that stops watching.
   *
   * Events are debounced: editors and `rename`-based atomic writes produce several per save.
   */
  watch(onChange: (next: DeviceCatalog) => void, log: Logger, opts: { debounceMs?: number } = {}): () => void {
    const dir = this.dir;
    const debounceMs = opts.debounceMs ?? 250;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    let loading = false;
    let changedWhileLoading = false;

    const reload = async (): Promise<void> => {
      if (loading) {
        changedWhileLoading = true;
        return;
      }
      loading = true;
      try {
        const next = await DeviceCatalog.load(dir);
        if (stopped) return;
        log.info({ dir, devices: next.size }, 'device catalog reloaded');
        try {
          onChange(next);
        } catch (err) {
          log.error({ err, dir, code: 'CP_ERR_CATALOG_LISTENER' }, 'device catalog change listener failed');
        }
      } catch (err) {
        if (stopped) return;
        const code = err instanceof CitypipeError ? err.code : ErrorCodes.CATALOG_INVALID.code;
        log.error({ err, dir, code }, 'device catalog reload failed; keeping the previous catalog');
      } finally {
        loading = false;
        if (changedWhileLoading && !stopped) {
          changedWhileLoading = false;
          schedule();
        }
      }
    };
    const schedule = (): void => {
      if (stopped) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = undefined;
        void reload();
      }, debounceMs);
    };

    let watcher: FSWatcher | undefined;
    try {
      // Not persistent: watching alone must not keep a stopped service alive.
      watcher = fsWatch(dir, { persistent: false }, schedule);
      watcher.on('error', (err) => {
        log.error({ err, dir, code: ErrorCodes.CATALOG_INVALID.code }, 'device catalog folder can no longer be watched; changes are not picked up until restart');
      });
    } catch (err) {
      log.error({ err, dir, code: ErrorCodes.CATALOG_INVALID.code }, 'device catalog folder cannot be watched; changes are not picked up until restart');
    }
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      watcher?.close();
    };
  }
}

/**
 * Registers a new device: validates it, refuses an id that exists anywhere in the catalog, and appends
 * it to `<dir>/registered.json` (written to a temporary file, then renamed) with only the hash of a
 * newly generated secret. Returns the stored record and the plaintext secret, which is not kept.
 */
export async function addDevice(
  dir: string,
  input: NewDevice,
): Promise<{ record: DeviceRecord; secret: string; file: string }> {
  const checked = validateNewDevice(input);
  if (!checked.ok) {
    const [first] = checked.problems;
    throw new CitypipeError(
      ErrorCodes.CATALOG_INVALID,
      checked.problems.length === 1 && first !== undefined ? first : `new device is invalid:\n  ${checked.problems.join('\n  ')}`,
    );
  }
  const candidate = checked.record;
  return withFolderLock(dir, async () => {
    const catalog = await DeviceCatalog.load(dir);
    const existing = catalog.fileOf(candidate.id);
    if (existing !== undefined) {
      throw new CitypipeError(
        ErrorCodes.CATALOG_DUPLICATE,
        `device id ${candidate.id} already exists in ${existing}; choose another id, or rotate its secret with \`citypipe devices rotate-secret ${candidate.id}\``,
      );
    }
    const secret = generateSecret();
    const record: DeviceRecord = { ...candidate, secretHash: await hashSecretAsync(secret) };
    const file = path.join(dir, REGISTERED_FILE);
    const current = await readCatalogFile(dir, REGISTERED_FILE, { missingIsEmpty: true });
    if (!current.ok) throw new CitypipeError(ErrorCodes.CATALOG_INVALID, `${file}: ${current.error}`);
    await writeFileAtomic(file, serialize([...current.value, record]));
    return { record: deepFreeze(record), secret, file };
  });
}

/**
 * Checks a new device's record without touching the catalog (the CLI uses it to tell a usage error
 * from a catalog problem). Problems read like `new device (bin-0042): location.lat: must be ≤ 90, got 95`.
 */
export function validateNewDevice(input: NewDevice): { ok: true; record: DeviceRecord } | { ok: false; problems: string[] } {
  const { secretHash: _ignored, ...rest } = input as NewDevice & { secretHash?: unknown };
  const parsed = deviceRecordSchema.safeParse(rest);
  if (parsed.success) return { ok: true, record: parsed.data };
  const label = `new device${idLabel(rest)}`;
  return { ok: false, problems: parsed.error.issues.map((issue) => `${label}: ${describeIssue(issue, rest)}`) };
}

/**
 * Gives an existing device a new secret: the new hash replaces the old one in whichever file holds
 * the device, and a revocation is lifted; nothing else in that file changes. A running service
 * disconnects sessions that authenticated with the old secret when it reloads the catalog. Returns
 * undefined when the id is not in the catalog.
 */
export async function rotateSecret(
  dir: string,
  id: string,
): Promise<{ record: DeviceRecord; secret: string; file: string } | undefined> {
  const secret = generateSecret();
  const secretHash = await hashSecretAsync(secret);
  const edited = await editRecord(dir, id, 'its secret was rotated', ({ revokedAt: _lifted, ...rest }) => ({ ...rest, secretHash }));
  if (edited === undefined) return undefined;
  const { revokedAt: _gone, ...record } = edited.record;
  return { record: deepFreeze({ ...record, secretHash }), secret, file: edited.file };
}

/**
 * Revokes a device: its secret hash is removed and `revokedAt` set, so it can connect neither with
 * its old secret nor with a client certificate. Its record stays (district, location and history
 * remain meaningful); `rotateSecret` reinstates it with a new secret. A running service disconnects
 * it when it reloads the catalog. Returns undefined when the id is not in the catalog.
 */
export async function revokeDevice(dir: string, id: string, at = new Date()): Promise<{ record: DeviceRecord; file: string } | undefined> {
  const revokedAt = at.toISOString();
  const edited = await editRecord(dir, id, 'it was revoked', ({ secretHash: _removed, ...rest }) => ({ ...rest, revokedAt }));
  if (edited === undefined) return undefined;
  const { secretHash: _gone, ...record } = edited.record;
  return { record: deepFreeze({ ...record, revokedAt }), file: edited.file };
}

/**
 * Rewrites one device's element in the file that holds it. Edits the raw element, not the parsed
 * record: schema defaults must not be written into files the city maintains by hand.
 */
async function editRecord(
  dir: string,
  id: string,
  what: string,
  edit: (raw: Record<string, unknown>) => Record<string, unknown>,
): Promise<{ record: DeviceRecord; file: string } | undefined> {
  return withFolderLock(dir, async () => {
    const catalog = await DeviceCatalog.load(dir);
    const file = catalog.fileOf(id);
    const record = catalog.get(id);
    if (file === undefined || record === undefined) return undefined;
    const content = await readCatalogFile(path.dirname(file), path.basename(file));
    if (!content.ok) throw new CitypipeError(ErrorCodes.CATALOG_INVALID, `${file}: ${content.error}`);
    const raw = content.value;
    const index = raw.findIndex((e) => isObject(e) && e['id'] === id);
    if (index < 0) throw new CitypipeError(ErrorCodes.CATALOG_INVALID, `${file}: device ${id} vanished while ${what}; try again`);
    const updated = raw.map((e, i) => (i === index ? edit(e as Record<string, unknown>) : e));
    await writeFileAtomic(file, serialize(updated));
    return { record, file };
  });
}

// ---------------------------------------------------------------------------------------------------
// Files

async function listCatalogFiles(dir: string): Promise<string[]> {
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

type FileContent = { ok: true; value: unknown[] } | { ok: false; error: string };

async function readCatalogFile(dir: string, name: string, opts: { missingIsEmpty?: boolean } = {}): Promise<FileContent> {
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

function serialize(records: readonly unknown[]): string {
  return JSON.stringify(records, null, 2) + '\n';
}


const folderLocks = new Map<string, Promise<unknown>>();

/**
 * Serialises read-modify-write of catalog files within this process. Two separate `citypipe devices`
 * processes racing on the same folder are not guarded against; the rename keeps each file whole.
 */
async function withFolderLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
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

// ---------------------------------------------------------------------------------------------------
// Messages

function catalogError(title: string, problems: readonly Problem[]): CitypipeError {
  const onlyDuplicates = problems.every((p) => p.duplicate);
  const shown = problems.slice(0, MAX_REPORTED_PROBLEMS).map((p) => `  ${p.text}`);
  if (problems.length > MAX_REPORTED_PROBLEMS) shown.push(`  … and ${problems.length - MAX_REPORTED_PROBLEMS} more`);
  const head =
    problems.length === 1
      ? (problems[0] as Problem).text
      : `${title} (${problems.length} problems):\n${shown.join('\n')}`;
  return new CitypipeError(onlyDuplicates ? ErrorCodes.CATALOG_DUPLICATE : ErrorCodes.CATALOG_INVALID, head);
}

function idLabel(element: unknown): string {
  if (!isObject(element)) return '';
  const id = element['id'];
  return typeof id === 'string' && id.length > 0 ? ` (${id.length > 64 ? id.slice(0, 64) + '…' : id})` : '';
}

type Issue = z.core.$ZodIssue;

/** `location.lat: must be ≤ 90, got 95`: the key, the rule, and what was there. */
function describeIssue(issue: Issue, element: unknown): string {
  const key = issue.path.map(String).join('.');
  const value = valueAt(element, issue.path);
  const got = `, got ${show(value)}`;
  const at = (text: string) => (key === '' ? text : `${key}: ${text}`);
  switch (issue.code) {
    case 'too_big':
      if (issue.origin === 'string') return at(`must be at most ${String(issue.maximum)} characters`);
      return at(`must be ${issue.inclusive ? '≤' : '<'} ${String(issue.maximum)}${got}`);
    case 'too_small':
      if (issue.origin === 'string') return at(Number(issue.minimum) <= 1 ? 'must not be empty' : `must be at least ${String(issue.minimum)} characters`);
      return at(`must be ${issue.inclusive ? '≥' : '>'} ${String(issue.minimum)}${got}`);
    case 'invalid_type':
      if (value === undefined) return at(`is required (${expectedName(issue.expected)})`);
      return at(`must be ${expectedName(issue.expected)}${got}`);
    case 'invalid_value':
      return at(`must be one of ${issue.values.map((v) => String(v)).join(', ')}${got}`);
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => (key === '' ? k : `${key}.${k}`));
      return `unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')}${key === '' ? ` (known: ${Object.keys(deviceRecordSchema.shape).join(', ')})` : ''}`;
    }
    case 'invalid_union': {
      const expected = new Set<string>();
      for (const branch of issue.errors) for (const sub of branch) if (sub.code === 'invalid_type') expected.add(expectedName(sub.expected));
      return at(expected.size > 0 ? `must be ${orList([...expected])}${got}` : `${issue.message}${got}`);
    }
    case 'invalid_format':
      return at(`${issue.message}${got}`);
    default:
      return at(issue.message);
  }
}

function orList(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

function expectedName(expected: string): string {
  switch (expected) {
    case 'int':
      return 'an integer';
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    default:
      return `a ${expected}`;
  }
}

function valueAt(element: unknown, p: readonly PropertyKey[]): unknown {
  let v: unknown = element;
  for (const k of p) {
    if (!isObject(v) && !Array.isArray(v)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T extends DeviceRecord>(record: T): T {
  Object.freeze(record.location);
  Object.freeze(record.attributes);
  return Object.freeze(record);
}
