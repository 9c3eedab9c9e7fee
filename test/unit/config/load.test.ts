import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { REDACTED, runCheck } from '../../../src/cli/check.js';
import { makeCertificates } from '../../../src/cli/cert.js';
import { defaultConfig } from '../../../src/config/defaults.js';
import { parseCommand, type Command } from '../../../src/cli/args.js';
import { ConfigError, rejectUnsupported } from '../../../src/config/load.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import type { Config } from '../../../src/config/types.js';

const dir = mkdtempSync(join(tmpdir(), 'dfp-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string, ext = 'yaml'): string {
  const path = join(dir, `c${n++}.${ext}`);
  writeFileSync(path, text);
  return path;
}
// Listener certificates are checked when the config is read: a real pair.
const certs = makeCertificates(['localhost']);
writeFileSync(join(dir, 'cert.pem'), certs.serverCert);
writeFileSync(join(dir, 'key.pem'), certs.serverKey);
writeFileSync(join(dir, 'ca.pem'), 'x');

function configOf(cmd: Command): Config {
  if (cmd.kind !== 'run' && cmd.kind !== 'check') throw new Error(`got ${cmd.kind}`);
  return cmd.config;
}

function rejection(argv: string[]): ConfigError {
  try {
    parseCommand(argv);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('parseCommand', () => {
  it('no arguments: run with the embedded default config', () => {
    expect(parseCommand([])).toEqual({ kind: 'run', config: defaultConfig(), configFile: null, watch: false });
  });

  it('help, version, check', () => {
    expect(parseCommand(['--help'])).toEqual({ kind: 'help' });
    expect(parseCommand(['--version'])).toEqual({ kind: 'version' });
    const path = file('dns: { lookupFamily: ALL }\n');
    const cmd = parseCommand(['check', '--config', path]);
    expect(cmd.kind).toBe('check');
    expect(configOf(cmd).dns.lookupFamily).toBe('ALL');
  });

  it('flags override the file', () => {
    const path = file('listeners: [{ address: 127.0.0.1:8081 }]\nadmin: { address: 127.0.0.1:9902 }\nlog: { level: error }\n');
    const c = configOf(parseCommand(['--config', path, '--listen', '127.0.0.1:0', '--admin=off', '--log-level', 'debug', '--dns-server', '[::1]:5353', '--allow-private']));
    expect(c.listeners.map((l) => l.address)).toEqual([{ host: '127.0.0.1', port: 0 }]);
    expect(c.admin).toBeNull();
    expect(c.log.level).toBe('debug');
    expect(c.dns.servers).toEqual(['[::1]:5353']);
    expect(c.access.allowPrivateDestinations).toBe(true);
  });

  it('reads JSON config files', () => {
    const path = file('{"dns": {"maxHosts": 7}}', 'json');
    expect(configOf(parseCommand(['--config', path])).dns.maxHosts).toBe(7);
  });

  it('resolves relative file paths against the config file directory', () => {
    const path = file('listeners: [{ address: 127.0.0.1:1, tls: { certFile: cert.pem, keyFile: ./key.pem } }]\n');
    const raw = parse('listeners: [{ address: 127.0.0.1:1, tls: { certFile: cert.pem, keyFile: ./key.pem } }]');
    const c = resolveConfig(raw, null, { baseDir: dir });
    expect(c.listeners[0]!.tls).toEqual({ certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') });
    expect(configOf(parseCommand(['--config', path])).listeners[0]!.tls).toEqual({ certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') });
  });

  it.each([
    [['--config', '/nonexistent/dfp.yaml'], '--config', 'cannot read /nonexistent/dfp.yaml: ENOENT'],
    [['--lisen', 'x'], '--lisen', 'unknown flag; did you mean --listen?'],
    [['cert'], '--out', 'dfp cert needs --out DIR'],
  ])('rejects %j', (argv, path, reason) => {
    const err = rejection(argv);
    expect(err.path).toBe(path);
    expect(err.reason).toBe(reason);
  });

  it('dfp cert: --out and --host, default hosts for local use', () => {
    expect(parseCommand(['cert', '--out', 'd'])).toEqual({ kind: 'cert', outDir: 'd', hosts: ['localhost', '127.0.0.1', '::1'] });
    expect(parseCommand(['cert', '--out=d', '--host', 'Proxy.Test', '--host', '[::1]'.slice(1, -1)])).toEqual({ kind: 'cert', outDir: 'd', hosts: ['proxy.test', '::1'] });
  });

  it('names the key of a bad file', () => {
    const err = rejection(['--config', file('dns:\n  lookupfamily: AUTO\n')]);
    expect(err.message).toBe('config: dns.lookupfamily: unknown key; did you mean lookupFamily?');
  });

  it('translates Kubernetes manifests in a multi-document file', () => {
    const k8s = `dns: { maxHosts: 9 }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: dfp }
spec: { type: DynamicForwardProxy, dynamicForwardProxy: {} }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  hostnames: ["*.a.test"]
  rules: [{ backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: dfp }] }]
`;
    const c = configOf(parseCommand(['--config', file(k8s)]));
    expect(c.dns.maxHosts).toBe(9);
    expect(c.routes).toEqual([{ match: { hosts: ['*.a.test'], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: null } }]);
    expect(rejection(['--config', file('dns: {}\n---\nlimits: {}\n')]).reason).toContain('only one dfp config document');
  });
});

describe('rejectUnsupported', () => {
  const cases: [string, string][] = [
    ['routes: [{ backend: { type: Static, endpoints: ["127.0.0.1:1"] } }]', 'routes[0].backend.type'],
  ];
  it.each(cases)('%s → %s: not supported yet', (text, path) => {
    const err = rejection(['--config', file(text)]);
    expect(err.path).toBe(path);
    expect(err.reason).toBe('not supported yet');
  });

  it('accepts what this stage runs: DynamicForwardProxy routes, hostRewriteHeader, system CA, empty access lists', () => {
    const c = resolveConfig(
      parse('upstream: { tls: { ca: system } }\nroutes: [{ match: { hosts: ["*.a.test"] }, backend: { hostRewriteHeader: x-to } }, { backend: {} }]\naccess: { allow: [], deny: [] }'),
      null,
      { baseDir: dir },
    );
    expect(() => rejectUnsupported(c)).not.toThrow();
    expect(() => rejectUnsupported(defaultConfig())).not.toThrow();
  });
});

describe('runCheck', () => {
  it('prints the effective config as YAML that loads back to the same Config', () => {
    const c = resolveConfig(
      parse(`
listeners: [{ address: "[::1]:0" }, { address: 127.0.0.1:9443, mode: sni, proxyProtocol: true }]
admin: off
dns: { servers: [127.0.0.1:5353], minTtl: 1500ms, maxTtl: 1h1m, preresolve: [a.test] }
access: { allow: ["*.a.test:443"], connectPorts: [] }
rateLimit: { perClient: { requestsPerSecond: 5 } }
upstream: { tls: { ca: [system, ca.pem] } }
routes:
  - match: { hosts: ["*.a.test"], pathPrefix: /x, headers: { x-env: prod } }
    backend: { hostRewriteHeader: x-to, tls: { ca: ca.pem, sni: b.test, verifyHostname: false } }
  - backend: { type: Static, endpoints: ["[::1]:9000"] }
`),
      null,
      { baseDir: dir },
    );
    const text = runCheck(c);
    expect(text).toContain('minTtl: 1s500ms');
    expect(text).toContain('address: off');
    expect(resolveConfig(parse(text), null, { baseDir: '/elsewhere', checkFiles: false })).toEqual(c);
  });

  it('round-trips the default config', () => {
    expect(resolveConfig(parse(runCheck(defaultConfig())), null, { baseDir: dir })).toEqual(defaultConfig());
  });

  it('redacts passwords', () => {
    const c = resolveConfig(parse('auth: { basic: { users: [{ username: alice, password: hunter2 }] } }'), null, { baseDir: dir });
    const text = runCheck(c);
    expect(text).not.toContain('hunter2');
    expect(text).toContain('username: alice');
    expect(text).toContain(`password: ${REDACTED}`);
  });
});
