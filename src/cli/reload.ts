/**
 * Live configuration: what SIGHUP and `--watch` do. A reload reads the command line's config file again
 * (with the same flags over it), and hands the result to the running proxy, which swaps its snapshot
 * whole (proxy/server.ts reload). A file that does not load, or a config the proxy cannot use, is
 * refused with the key and the reason on stderr: the running config stays. Both outcomes are counted
 * in dfp_config_reloads_total{result}.
 *
 * `--watch` is for Kubernetes ConfigMap mounts, which never write the file in place: kubelet writes a
 * new timestamped directory and swaps the `..data` symlink the file's symlink points through. So the
 * directory is watched (fs.watch sees the swap), with a stat poll as a fallback for file systems where
 * fs.watch sees nothing, and a change is the file's *content* changing: events are debounced and the
 * content's hash compared, so touching the file, or the several events of one swap, reload once.
 */
import { createHash } from 'node:crypto';
import { readFileSync, watch, watchFile, unwatchFile, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/** How long events settle before the file is read (one ConfigMap swap makes several). */
const DEBOUNCE_MS = 200;
/** The stat poll behind fs.watch. */
const POLL_MS = 2_000;

/** Watch `file` for content changes; `onChange` runs once per change. Returns the function that stops watching. */
export function watchConfigFile(file: string, onChange: () => void): () => void {
  let last = contentHash(file);
  let timer: NodeJS.Timeout | null = null;
  const check = (): void => {
    timer = null;
    const now = contentHash(file);
    // A file caught mid-swap (missing for a moment) is looked at again on the next event or poll.
    if (now === null || now === last) return;
    last = now;
    onChange();
  };
  const schedule = (): void => {
    if (timer === null) timer = setTimeout(check, DEBOUNCE_MS);
  };
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
      // The file itself, or Kubernetes' ..data / ..<timestamp> entries swapped under it.
      if (name === null || name === basename(file) || name.startsWith('..')) schedule();
    });
    watcher.on('error', () => {});
  } catch {
    watcher = null; // the poll below still works
  }
  watchFile(file, { interval: POLL_MS, persistent: false }, schedule);
  return () => {
    watcher?.close();
    unwatchFile(file, schedule);
    if (timer !== null) clearTimeout(timer);
  };
}

function contentHash(file: string): string | null {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('base64');
  } catch {
    return null;
  }
}
