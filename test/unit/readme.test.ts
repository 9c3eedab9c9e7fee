/**
 * README.md documents the user-facing surface completely: every config key the resolver accepts (in the
 * configuration reference table), every command-line flag, every metric (name, type, labels) and every
 * error code (status, Proxy-Status error). A key, flag, metric or error added to the code without a row in
 * the README fails here.
 *
 * Config keys come from the resolver itself: readObject (config/raw.ts) is the one function that checks a
 * mapping's keys against the list the resolver accepts, so it is wrapped to record every (path, key list)
 * it is asked about while MAXIMAL (a config that sets every key the resolver accepts) is resolved.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

const recorded = vi.hoisted(() => [] as { path: string; keys: readonly string[] }[]);

vi.mock('../../src/config/raw.js', async (importOriginal) => {
  const raw = await importOriginal<typeof import('../../src/config/raw.js')>();
  return {
    ...raw,
    readObject: (value: unknown, path: string, keys: readonly string[]) => {
      recorded.push({ path, keys: [...keys] });
      return raw.readObject(value, path, keys);
    },
  };
});

import { parseArgs } from '../../src/cli/args.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { ERRORS } from '../../src/errors.js';
import { DFP_METRICS } from '../../src/observability/metrics.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The text of the `## title` section, up to the next `## ` heading. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README.md has no "## ${title}" section`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? README.length : end);
}

/** Whether `text` has a table row whose first cell starts with `` `code` `` (code as written, then a space or the closing backtick). */
function hasRow(text: string, code: string): boolean {
  return text.split('\n').some((line) => line.startsWith(`| \`${code}\``) || line.startsWith(`| \`${code} `));
}

/**
 * A config that sets every key the resolver accepts, so that every nested mapping is read (and its key
 * list recorded). Keys that exclude each other are spread over two listeners and two routes.
 */
const MAXIMAL = {
  listeners: [
    { address: '127.0.0.1:8080', mode: 'http', tls: { certFile: 'cert.pem', keyFile: 'key.pem' }, proxyProtocol: true },
    { address: '127.0.0.1:9443', mode: 'sni', upstreamPort: 443, proxyProtocol: false },
  ],
  admin: { address: '127.0.0.1:9901' },
  dns: {
    servers: ['127.0.0.1:5353'],
    lookupFamily: 'V4_PREFERRED',
    minTtl: '1s',
    maxTtl: '5m',
    negativeTtl: '5s',
    queryTimeout: '5s',
    retries: 1,
    hostTtl: '5m',
    maxHosts: 10000,
    maxPendingLookups: 1024,
    preresolve: ['example.com'],
  },
  access: {
    mode: 'report',
    allowPrivateDestinations: false,
    allow: ['*.example.com:443', { rule: '203.0.113.0/24', name: 'partners' }],
    deny: [{ rule: '*.example.net', name: 'no-example-net' }],
    connectPorts: [443],
    connectSni: 'match',
    upgrades: ['websocket'],
  },
  auth: { basic: { realm: 'dfp', users: [{ username: 'carol', password: 'secret' }], passwordFile: 'users.htpasswd' } },
  rateLimit: { perClient: { requestsPerSecond: 10, burst: 20 }, store: 'redis://127.0.0.1:6379' },
  limits: {
    maxHeaderBytes: 65536,
    maxConnections: 10000,
    maxConnectionsPerClient: 256,
    headerTimeout: '30s',
    responseTimeout: '60s',
    idleTimeout: '5m',
    connectTimeout: '10s',
    drainTimeout: '30s',
  },
  upstream: { maxIdlePerHost: 128, tls: { ca: 'system' } },
  routes: [
    {
      match: { hosts: ['*.internal.example'], pathPrefix: '/', headers: {} },
      backend: { type: 'DynamicForwardProxy', hostRewriteHeader: 'x-rewrite-me', tls: { enabled: true, ca: 'system', sni: 'auto', verifyHostname: true } },
    },
    { match: { hosts: ['static.example'] }, backend: { type: 'Static', endpoints: ['127.0.0.1:9000'] } },
  ],
  workers: 1,
  log: { format: 'json', level: 'info', accessFile: 'access.log' },
  pac: { proxy: '127.0.0.1:8080', direct: ['*.internal.example'] },
};

/** `listeners[1].tls` → `listeners[].tls`. */
function normalizePath(path: string): string {
  return path.replace(/\[\d+\]/g, '[]');
}

function joinKey(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** Every key path the resolver accepts, as recorded while resolving MAXIMAL. */
function acceptedKeyPaths(): Set<string> {
  recorded.length = 0;
  resolveConfig(MAXIMAL, null, { baseDir: ROOT, checkFiles: false });
  const paths = new Set<string>();
  for (const { path, keys } of recorded) for (const key of keys) paths.add(joinKey(normalizePath(path), key));
  return paths;
}

/** Every key path MAXIMAL sets (list items as `[]`). */
function keyPathsOf(value: unknown, path = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) keyPathsOf(item, `${path}[]`, out);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, child] of Object.entries(value)) {
      const p = joinKey(path, key);
      out.add(p);
      keyPathsOf(child, p, out);
    }
  }
  return out;
}

describe('README.md configuration reference', () => {
  const accepted = acceptedKeyPaths();

  it('the resolver was observed reading every section (the recording works)', () => {
    for (const p of ['listeners', 'pac', 'dns.retries', 'listeners[].tls.certFile', 'auth.basic.users[].password', 'routes[].backend.tls.verifyHostname']) {
      expect(accepted, p).toContain(p);
    }
  });

  it('this test sets every key the resolver accepts, so nested sections are read too', () => {
    const set = keyPathsOf(MAXIMAL);
    const missing = [...accepted].filter((p) => !set.has(p));
    expect(missing, 'add these keys to MAXIMAL in test/unit/readme.test.ts (and document them in README.md)').toEqual([]);
  });

  it('has a row for every key the resolver accepts', () => {
    const reference = section('Configuration reference');
    const undocumented = [...accepted].filter((p) => !hasRow(reference, p)).sort();
    expect(undocumented, 'config keys without a row in README.md "## Configuration reference"').toEqual([]);
  });
});

describe('README.md command line', () => {
  /** The flag names of args.ts's FLAGS table, read from its source (the table is not exported). */
  function flagsInSource(): string[] {
    const source = readFileSync(join(ROOT, 'src', 'cli', 'args.ts'), 'utf8');
    const start = source.indexOf('const FLAGS');
    const end = source.indexOf('\n};', start);
    expect(start, 'const FLAGS in src/cli/args.ts').toBeGreaterThan(0);
    const block = source.slice(start, end);
    const names = [...block.matchAll(/^\s*'(--[a-z][a-z-]*)':/gm)].map((m) => m[1]!);
    // One name per entry: an entry the pattern misses would go unchecked.
    expect(names.length, 'flag entries read from FLAGS').toBe(block.split('apply:').length - 1);
    return names;
  }

  const flags = flagsInSource();

  it('reads the real flags', () => {
    expect(flags.length).toBeGreaterThanOrEqual(16);
    for (const flag of flags) {
      let message = '';
      try {
        parseArgs([flag]);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, flag).not.toMatch(/unknown flag/);
    }
  });

  it('has a row for every flag', () => {
    const text = section('Command line');
    const undocumented = flags.filter((f) => !hasRow(text, f));
    expect(undocumented, 'flags without a row in README.md "## Command line"').toEqual([]);
  });
});

describe('README.md metrics', () => {
  it('has a row for every metric with its type and labels', () => {
    const text = section('Admin port and metrics');
    const rows = text.split('\n');
    const wrong: string[] = [];
    for (const def of Object.values(DFP_METRICS)) {
      const labels = def.labels.map((l) => `\`${l}\``).join(', ');
      const prefix = `| \`${def.name}\` | ${def.type} | ${labels}${labels === '' ? '' : ' '}|`;
      if (!rows.some((r) => r.startsWith(prefix))) wrong.push(prefix);
    }
    expect(wrong, 'metric rows missing (or with another type or labels) in README.md "## Admin port and metrics"').toEqual([]);
  });
});

describe('README.md error table', () => {
  it('has a row for every error code with its status and Proxy-Status error', () => {
    const rows = section('Errors').split('\n');
    const wrong: string[] = [];
    for (const [code, spec] of Object.entries(ERRORS)) {
      const prefix = `| \`${code}\` | ${spec.status} | \`${spec.proxyStatus}\` |`;
      if (!rows.some((r) => r.startsWith(prefix))) wrong.push(prefix);
    }
    expect(wrong, 'error rows missing (or with another status or Proxy-Status) in README.md "## Errors"').toEqual([]);
  });
});
