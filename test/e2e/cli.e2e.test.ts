import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// Spawns the real CLI (src/cli.ts through tsx) for the command-line contract:
// `dfp check` (exit 0/1), and rejection of bad config and unknown flags at start with exit code 2.
const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'dfp-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function dfp(args: string[]): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

describe('dfp command line', () => {
  it('check --config good.yaml exits 0 and prints the effective config', async () => {
    const good = write('good.yaml', 'listeners: [{ address: 127.0.0.1:0 }]\ndns:\n  servers: [127.0.0.1:5353]\n  minTtl: 2s\n');
    const run = await dfp(['check', '--config', good]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('address: 127.0.0.1:0');
    expect(run.stdout).toContain('minTtl: 2s');
    expect(run.stdout).toContain('- 127.0.0.1:5353');
  });

  it('a misspelled key names the key path and the replacement: exit 1 from check, 2 at start', async () => {
    const bad = write('bad.yaml', 'dns:\n  lookupfamily: AUTO\n');
    for (const [args, code] of [[['check', '--config', bad], 1], [['--config', bad], 2]] as const) {
      const run = await dfp([...args]);
      expect(run.code).toBe(code);
      expect(run.stderr).toContain('dns.lookupfamily: unknown key; did you mean lookupFamily?');
      expect(run.stdout).toBe('');
    }
  });

  it('an unknown flag exits 2 naming the flag', async () => {
    const run = await dfp(['--lisen', '127.0.0.1:0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--lisen: unknown flag; did you mean --listen?');
  });
});
