/**
 * What every bench that runs dfp from dist/ does first: rebuild when a src file is newer than
 * dist/cli.js, and name the commit it measures. One line each for the report.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository the benches belong to. */
export const repo = dirname(dirname(fileURLToPath(import.meta.url)));

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Runs `tsc -p .` when dist/cli.js is missing or older than a src file; returns a line for the report. */
export function buildIfStale(bench: string): string {
  const cli = join(repo, 'dist', 'cli.js');
  if (existsSync(cli) && statSync(cli).mtimeMs >= newestMtimeMs(join(repo, 'src'))) return 'build: dist/cli.js newer than every src file, not rebuilt';
  const t0 = Date.now();
  process.stderr.write(`bench ${bench}: dist is stale, running tsc -p . ...\n`);
  try {
    execFileSync(join(repo, 'node_modules', '.bin', 'tsc'), ['-p', '.'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? '').trim().split('\n').slice(0, 5).join('\n');
    if (!existsSync(cli)) throw new Error(`tsc -p . failed and dist/cli.js is missing:\n${out}`);
    return `build: ran tsc -p . (${((Date.now() - t0) / 1000).toFixed(1)} s) WITH ERRORS, measuring what it emitted:\n${out}`;
  }
  return `build: dist was older than src, ran tsc -p . (${((Date.now() - t0) / 1000).toFixed(1)} s)`;
}

/** The commit measured: the short HEAD, and whether src has uncommitted changes. */
export function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8', timeout: 5_000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: repo, encoding: 'utf8', timeout: 5_000 }).trim();
    return dirty ? `${head} + uncommitted src changes` : head;
  } catch {
    return '?';
  }
}
