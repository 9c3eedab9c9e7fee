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
import type { Config } from '../config/types.js';
import { parseCommand } from './args.js';

/** How long events settle before the file is read (one ConfigMap swap makes several). */
const DEBOUNCE_MS = 200;
/** The stat poll behind fs.watch. */
const POLL_MS = 2_000;

/** What a reload came to (a worker reports it to the primary). */
export interface ReloadOutcome {
  ok: boolean;
  /** The reason when refused. */
  message: string;
}

/** The command line's config read again (the same flags over it), or the error naming the key. */
export function readReloadConfig(argv: readonly string[]): Config | Error {
  try {
    const command = parseCommand(argv);
    return command.kind === 'run' ? command.config : new Error('not a run command');
  } catch (err) {
    return err as Error;
  }
}

/**
 * Signal handlers installed at once, dispatched later: until ready() a signal is remembered (not the
 * default action: SIGHUP would end the process, SIGUSR1 open the inspector) and handled then, once.
 */
export function holdSignals(names: readonly NodeJS.Signals[]): { ready(handlers: Partial<Record<NodeJS.Signals, () => void>>): void } {
  const held = new Set<NodeJS.Signals>();
  let handlers: Partial<Record<NodeJS.Signals, () => void>> | null = null;
  for (const name of names) {
    process.on(name, () => {
      if (handlers === null) held.add(name);
      else handlers[name]?.();
    });
  }
  return {
    ready(h) {
      handlers = h;
      for (const name of held) h[name]?.();
      held.clear();
    },
  };
}

/**
 * Watch `file` for content changes; `onChange` runs once per change. `baseline`: the content's hash when
 * the config was read (so an edit made while dfp started is a change); default: now. Returns the function
 * that stops watching.
 */
export function watchConfigFile(file: string, onChange: () => void, baseline: string | null = null): () => void {
  let last = baseline ?? contentHash(file);
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

/** The file's content hash, or null while it cannot be read (mid-swap). */
export function contentHash(file: string): string | null {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('base64');
  } catch {
    return null;
  }
}
