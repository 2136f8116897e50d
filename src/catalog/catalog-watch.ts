/**
 * A running service's catalog follows its folder: a change reloads it and hands the new catalog on.
 * An invalid folder is logged and the previous catalog stays in force, so a half-saved edit never
 * takes devices offline.
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import type { Logger } from '../observability/logger.js';
import type { DeviceCatalog } from './catalog.js';

/**
 * Watches `dir`, calls `load` after a change and hands its catalog to `onChange`. Events are
 * debounced by `debounceMs`: editors and `rename`-based atomic writes produce several per save.
 * Returns a function that stops watching.
 */
export function watchCatalog(
  dir: string,
  load: () => Promise<DeviceCatalog>,
  onChange: (next: DeviceCatalog) => void,
  log: Logger,
  debounceMs: number,
): () => void {
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
      const next = await load();
      if (stopped) return;
      log.info({ dir, devices: next.size }, 'device catalog reloaded');
      try {
        onChange(next);
      } catch (err) {
        log.error({ err, dir, code: ErrorCodes.CATALOG_LISTENER.code }, 'device catalog change listener failed');
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
