import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCertificates } from '../../../src/cli/cert.js';
import { defaultConfig } from '../../../src/config/defaults.js';
import { ConfigError, parseConfigText } from '../../../src/config/raw.js';
import { resolveConfig, type Overrides } from '../../../src/config/resolve.js';

const dir = mkdtempSync(join(tmpdir(), 'dfp-resolve-'));
// Listener certificates and htpasswd files are checked when the config is read: real ones here.
const certs = makeCertificates(['localhost']);
writeFileSync(join(dir, 'cert.pem'), certs.serverCert);
writeFileSync(join(dir, 'key.pem'), certs.serverKey);
writeFileSync(join(dir, 'ca.pem'), 'x');
writeFileSync(join(dir, 'htpasswd'), 'bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NO_FLAGS: Overrides = { listen: [], admin: null, dnsServers: [], allowPrivate: false, connectPorts: null, workers: null, logFormat: null, logLevel: null };

function resolveYaml(text: string, flags: Partial<Overrides> = {}) {
  const docs = parseConfigText(text, 'test.yaml');
  return resolveConfig(docs[0] ?? null, { ...NO_FLAGS, ...flags }, { baseDir: dir });
}

function rejection(text: string, flags: Partial<Overrides> = {}): ConfigError {
  try {
    resolveYaml(text, flags);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('resolveConfig: accepted files', () => {
  it('an empty file is the default config', () => {
    expect(resolveYaml('')).toEqual(defaultConfig());
    expect(resolveYaml('# just a comment\n')).toEqual(defaultConfig());
    expect(resolveYaml('dns:\nlimits:\n')).toEqual(defaultConfig());
  });

  it('reads the DESIGN.md example (every key) into the Config shape', () => {
    const c = resolveYaml(`
listeners:
  - address: 127.0.0.1:8080
  - address: 127.0.0.1:8443
    tls: { certFile: cert.pem, keyFile: key.pem }
  - address: 127.0.0.1:9443
    mode: sni
    upstreamPort: 8443
    proxyProtocol: true
admin:
  address: 127.0.0.1:9901
dns:
  servers: [127.0.0.1:5353, "[::1]:53", 1.2.3.4, "::1"]
  lookupFamily: V4_PREFERRED
  minTtl: 1s
  maxTtl: 5m
  negativeTtl: 5s
  queryTimeout: 250ms
  retries: 2
  hostTtl: 1h
  maxHosts: 100
  maxPendingLookups: 8
  preresolve: [Example.com]
access:
  allowPrivateDestinations: true
  allow: ["*.Example.com", 10.0.0.0/8, "example.org:443", "[::1]:80", "fd00::/8"]
  deny: [169.254.169.254]
  connectPorts: [443, 8443]
  upgrades: [WebSocket, x-proto]
  connectSni: require
auth:
  basic:
    realm: dfp
    users: [{ username: alice, password: secret }]
    passwordFile: htpasswd
rateLimit:
  perClient: { requestsPerSecond: 100, burst: 200 }
limits:
  maxHeaderBytes: 32768
  maxConnections: 50
  maxConnectionsPerClient: 7
  headerTimeout: 30s
  responseTimeout: 45s
  idleTimeout: 300s
  connectTimeout: 10s
  drainTimeout: 0
upstream:
  maxIdlePerHost: 4
  tls:
    ca: [system, ca.pem]
routes:
  - match: { hosts: ["*.Internal.Example"], pathPrefix: /api, headers: { X-Env: prod } }
    backend:
      type: DynamicForwardProxy
      hostRewriteHeader: X-Rewrite-Me
      tls: { enabled: true, ca: system, sni: auto, verifyHostname: true }
  - match: { hosts: ["static.example"] }
    backend: { type: Static, endpoints: ["127.0.0.1:9000"] }
workers: 2
log: { format: pretty, level: warn }
`);
    expect(c.listeners).toEqual([
      { address: { host: '127.0.0.1', port: 8080 }, mode: 'http', tls: null, proxyProtocol: false, upstreamPort: 443 },
      { address: { host: '127.0.0.1', port: 8443 }, mode: 'http', tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') }, proxyProtocol: false, upstreamPort: 443 },
      { address: { host: '127.0.0.1', port: 9443 }, mode: 'sni', tls: null, proxyProtocol: true, upstreamPort: 8443 },
    ]);
    expect(c.admin).toEqual({ host: '127.0.0.1', port: 9901 });
    expect(c.dns).toEqual({
      servers: ['127.0.0.1:5353', '[::1]:53', '1.2.3.4', '::1'],
      lookupFamily: 'V4_PREFERRED',
      minTtlMs: 1_000,
      maxTtlMs: 300_000,
      negativeTtlMs: 5_000,
      queryTimeoutMs: 250,
      retries: 2,
      hostTtlMs: 3_600_000,
      maxHosts: 100,
      maxPendingLookups: 8,
      preresolve: ['example.com'],
    });
    const entries = (...rules: string[]) => rules.map((rule) => ({ rule, name: null }));
    expect(c.access).toEqual({
      mode: 'enforce',
      allowPrivateDestinations: true,
      allow: entries('*.example.com', '10.0.0.0/8', 'example.org:443', '[::1]:80', 'fd00::/8'),
      deny: entries('169.254.169.254'),
      connectPorts: [443, 8443],
      upgrades: ['websocket', 'x-proto'],
      connectSni: 'require',
    });
    expect(c.auth).toEqual({ basic: { realm: 'dfp', users: [{ username: 'alice', password: 'secret' }], passwordFile: join(dir, 'htpasswd') } });
    expect(c.rateLimit).toEqual({ perClient: { requestsPerSecond: 100, burst: 200 }, store: 'memory' });
    expect(c.limits).toEqual({ maxHeaderBytes: 32768, maxConnections: 50, maxConnectionsPerClient: 7, headerTimeoutMs: 30_000, responseTimeoutMs: 45_000, idleTimeoutMs: 300_000, connectTimeoutMs: 10_000, drainTimeoutMs: 0 });
    expect(c.upstream).toEqual({ maxIdlePerHost: 4, tls: { trust: { system: true, caFiles: [join(dir, 'ca.pem')], caPems: [] } } });
    expect(c.routes).toEqual([
      {
        match: { hosts: ['*.internal.example'], pathPrefix: '/api', headers: { 'x-env': 'prod' } },
        backend: { type: 'DynamicForwardProxy', hostRewriteHeader: 'x-rewrite-me', tls: { enabled: true, trust: { system: true, caFiles: [], caPems: [] }, sni: 'auto', verifyHostname: true } },
      },
      { match: { hosts: ['static.example'], pathPrefix: '/', headers: {} }, backend: { type: 'Static', endpoints: [{ host: '127.0.0.1', port: 9000 }], tls: null } },
    ]);
    expect(c.workers).toBe(2);
    expect(c.log).toEqual({ format: 'pretty', level: 'warn', accessFile: null });
  });

  it.each([
    ['admin: off', null],
    ['admin: false', null],
    ['admin: { address: off }', null],
    ['admin: "[::1]:0"', { host: '::1', port: 0 }],
    ['admin: { address: localhost:9000 }', { host: 'localhost', port: 9000 }],
  ])('admin %s', (text, expected) => {
    expect(resolveYaml(text).admin).toEqual(expected);
  });

  it('reads JSON files strictly', () => {
    const docs = parseConfigText('{"dns": {"lookupFamily": "V6_ONLY"}}', 'c.json');
    expect(resolveConfig(docs[0], null, { baseDir: dir }).dns.lookupFamily).toBe('V6_ONLY');
    expect(() => parseConfigText('{dns: 1}', 'c.json')).toThrow(/^config: c\.json: invalid JSON/);
  });

  it('defaults the burst to the rate and the backend type to DynamicForwardProxy', () => {
    const c = resolveYaml('rateLimit: { perClient: { requestsPerSecond: 2.5 } }\nroutes: [{ match: { hosts: ["*"] } }]');
    expect(c.rateLimit.perClient).toEqual({ requestsPerSecond: 2.5, burst: 3 });
    expect(c.routes[0]!.backend).toEqual({ type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: null });
  });
});

describe('resolveConfig: flags override the file', () => {
  const file = `
listeners:
  - address: 127.0.0.1:8080
  - address: 127.0.0.1:9443
    mode: sni
dns: { servers: [127.0.0.1:53] }
log: { level: error }
`;
  it('--listen replaces the http listeners and keeps sni ones', () => {
    const c = resolveYaml(file, { listen: ['127.0.0.1:0', '[::1]:0'] });
    expect(c.listeners.map((l) => [l.address.host, l.address.port, l.mode])).toEqual([
      ['127.0.0.1', 0, 'http'],
      ['::1', 0, 'http'],
      ['127.0.0.1', 9443, 'sni'],
    ]);
  });

  it('--dns-server, --admin, --allow-private, --workers, --log-* replace file values', () => {
    const c = resolveYaml(file, { dnsServers: ['127.0.0.1:5353'], admin: 'off', allowPrivate: true, workers: '4', logFormat: 'pretty', logLevel: 'debug' });
    expect(c.dns.servers).toEqual(['127.0.0.1:5353']);
    expect(c.admin).toBeNull();
    expect(c.access.allowPrivateDestinations).toBe(true);
    expect(c.workers).toBe(4);
    expect(c.log).toEqual({ format: 'pretty', level: 'debug', accessFile: null });
  });

  it.each([
    [{ listen: [':8080'] }, '--listen', 'has no host'],
    [{ admin: 'nope' }, '--admin', 'needs a port'],
    [{ dnsServers: ['dns.google:53'] }, '--dns-server', 'must be an IP address, not a name'],
    [{ workers: '0' }, '--workers', 'must be between 1 and 256'],
    [{ workers: 'two' }, '--workers', 'must be a whole number'],
    [{ workers: '1.5' }, '--workers', 'must be a whole number'],
    [{ logFormat: 'text' }, '--log-format', 'must be one of json | pretty'],
    [{ logLevel: 'warning' }, '--log-level', 'did you mean warn?'],
    [{ listen: ['127.0.0.1:9901'] }, 'admin.address', 'same address as listeners[0]'],
  ] as const)('rejects %j at %s', (flags, path, reason) => {
    const err = rejection('', flags as Partial<Overrides>);
    expect(err.path).toBe(path);
    expect(err.reason).toContain(reason);
  });
});

// Each bad file names the key path, the reason and, when obvious, the replacement.
const BAD: [string, string, string][] = [
  ['dns: { lookupfamily: AUTO }', 'dns.lookupfamily', 'unknown key; did you mean lookupFamily?'],
  ['dns: { min_ttl: 1s }', 'dns.min_ttl', 'unknown key; did you mean minTtl?'],
  ['dns: { minTTL: 1s }', 'dns.minTTL', 'unknown key; did you mean minTtl?'],
  ['dnss: {}', 'dnss', 'unknown key; did you mean dns?'],
  ['listners: []', 'listners', 'unknown key; did you mean listeners?'],
  ['frobnicate: 1', 'frobnicate', 'unknown key'],
  ['- a\n- b', '(file)', 'must be a mapping, not a list'],
  ['"hello"', '(file)', 'must be a mapping'],
  ['dns: 5', 'dns', 'must be a mapping, not 5'],
  ['dns: { minTtl: 5 }', 'dns.minTtl', 'a duration needs a unit'],
  ['dns: { minTtl: 5x }', 'dns.minTtl', 'unknown unit "x"'],
  ['dns: { minTtl: 10m, maxTtl: 5m }', 'dns.minTtl', 'dns.minTtl must not exceed dns.maxTtl'],
  ['dns: { maxTtl: 500ms }', 'dns.maxTtl', 'dns.minTtl must not exceed dns.maxTtl'],
  ['dns: { queryTimeout: 0 }', 'dns.queryTimeout', 'must be greater than 0'],
  ['dns: { lookupFamily: V4_PREFERED }', 'dns.lookupFamily', 'must be one of V4_ONLY | V6_ONLY | V4_PREFERRED | AUTO | ALL, not "V4_PREFERED"; did you mean V4_PREFERRED?'],
  ['dns: { lookupFamily: v4_only }', 'dns.lookupFamily', 'did you mean V4_ONLY?'],
  ['dns: { servers: 127.0.0.1 }', 'dns.servers', 'must be a list'],
  ['dns: { servers: [dns.google] }', 'dns.servers[0]', 'must be an IP address, not a name'],
  ['dns: { servers: [127.0.0.1:0] }', 'dns.servers[0]', 'port 0 is not allowed here'],
  ['dns: { servers: [1] }', 'dns.servers[0]', 'must be a string'],
  ['dns: { servers: ["::1:53:zz"] }', 'dns.servers[0]', 'is not an IP address'],
  ['dns: { maxHosts: 0 }', 'dns.maxHosts', 'must be between 1 and 10000000, not 0'],
  ['dns: { maxHosts: 1.5 }', 'dns.maxHosts', 'must be a whole number, not 1.5'],
  ['dns: { maxHosts: "100" }', 'dns.maxHosts', 'must be a whole number, not "100"'],
  ['dns: { retries: 11 }', 'dns.retries', 'must be between 0 and 10'],
  ['dns: { preresolve: ["*.example.com"] }', 'dns.preresolve[0]', 'is not a host name'],
  ['listeners: []', 'listeners', 'needs at least one listener'],
  ['listeners: [{ mode: http }]', 'listeners[0].address', 'is required'],
  ['listeners: [{ address: 127.0.0.1:1 }, { address: ":8080" }]', 'listeners[1].address', 'has no host; write 127.0.0.1:8080'],
  ['listeners: [{ address: "::1:8080" }]', 'listeners[0].address', 'put IPv6 addresses in brackets'],
  ['listeners: [{ address: 127.0.0.1:1 }, { address: 127.0.0.1:1 }]', 'listeners[1].address', 'same address as listeners[0]'],
  ['listeners: [{ address: 127.0.0.1:9901 }]', 'admin.address', 'same address as listeners[0]'],
  ['listeners: [{ address: 127.0.0.1:1, mode: tcp }]', 'listeners[0].mode', 'must be one of http | sni'],
  ['listeners: [{ address: 127.0.0.1:1, adress: x }]', 'listeners[0].adress', 'did you mean address?'],
  ['listeners: [{ address: 127.0.0.1:1, tls: { certFile: cert.pem } }]', 'listeners[0].tls.keyFile', 'is required'],
  ['listeners: [{ address: 127.0.0.1:1, tls: { certFile: missing.pem, keyFile: key.pem } }]', 'listeners[0].tls.certFile', 'ENOENT'],
  ['listeners: [{ address: 127.0.0.1:1, mode: sni, tls: { certFile: cert.pem, keyFile: key.pem } }]', 'listeners[0].tls', 'mode sni passes TLS through'],
  ['listeners: [{ address: 127.0.0.1:1, upstreamPort: 443 }]', 'listeners[0].upstreamPort', 'applies to mode sni only'],
  ['listeners: [{ address: 127.0.0.1:1, mode: sni, upstreamPort: 0 }]', 'listeners[0].upstreamPort', 'must be between 1 and 65535'],
  ['listeners: [{ address: 127.0.0.1:1, proxyProtocol: "yes" }]', 'listeners[0].proxyProtocol', 'must be true or false'],
  ['admin: { address: 9901 }', 'admin.address', 'must be host:port or off'],
  ['admin: { adress: x }', 'admin.adress', 'did you mean address?'],
  ['access: { allow: ["10.0.0.1/8"] }', 'access.allow[0]', 'host bits set; did you mean 10.0.0.0/8?'],
  ['access: { deny: ["exa*mple.com"] }', 'access.deny[0]', '"*" is only allowed as a whole first label'],
  ['access: { deny: ["example.com:0"] }', 'access.deny[0]', 'is not a port'],
  ['access: { deny: ["[zz]:80"] }', 'access.deny[0]', 'is not an IPv6 address'],
  ['access: { connectPorts: [0] }', 'access.connectPorts[0]', 'must be between 1 and 65535'],
  ['access: { upgrades: ["websocket/13"] }', 'access.upgrades[0]', 'must be a protocol name'],
  ['access: { upgrades: [""] }', 'access.upgrades[0]', 'must be a protocol name'],
  ['access: { connectSni: strict }', 'access.connectSni', 'must be one of'],
  ['limits: { responseTimeout: 5 }', 'limits.responseTimeout', 'needs a unit'],
  ['access: { allowPrivateDestination: true }', 'access.allowPrivateDestination', 'did you mean allowPrivateDestinations?'],
  ['auth: { basic: {} }', 'auth.basic', 'needs users or passwordFile'],
  ['auth: { basic: { users: [{ username: "a:b", password: x }] } }', 'auth.basic.users[0].username', 'must not contain ":"'],
  ['auth: { basic: { users: [{ username: a }] } }', 'auth.basic.users[0].password', 'is required'],
  ['auth: { basic: { users: [{ username: a, password: x }, { username: a, password: y }] } }', 'auth.basic.users[1].username', 'duplicate user'],
  ['auth: { basic: { realm: "a\\"b", users: [{ username: a, password: x }] } }', 'auth.basic.realm', 'printable ASCII'],
  ['rateLimit: { perClient: { burst: 1 } }', 'rateLimit.perClient.requestsPerSecond', 'is required'],
  ['rateLimit: { perClient: { requestsPerSecond: 0 } }', 'rateLimit.perClient.requestsPerSecond', 'must be a number above 0'],
  ['limits: { maxHeaderBytes: 100 }', 'limits.maxHeaderBytes', 'must be between 1024 and 1048576'],
  ['limits: { idleTimeout: 5 }', 'limits.idleTimeout', 'needs a unit'],
  ['limits: { connectTimeout: 0s }', 'limits.connectTimeout', 'must be greater than 0'],
  ['upstream: { tls: { ca: [] } }', 'upstream.tls.ca', 'needs at least one CA'],
  ['upstream: { tls: { ca: [system, system] } }', 'upstream.tls.ca[1]', 'system listed twice'],
  ['upstream: { tls: { ca: nope.pem } }', 'upstream.tls.ca', 'ENOENT'],
  ['upstream: { maxIdlePerHost: -1 }', 'upstream.maxIdlePerHost', 'must be between 0 and 10000'],
  ['routes: []', 'routes', 'needs at least one route'],
  ['routes: [{ backend: { type: DynamicForwardProxy } }, { backend: { type: Dynamic } }]', 'routes[1].backend.type', 'must be one of DynamicForwardProxy | Static'],
  ['routes: [{ backend: { type: dynamicforwardproxy } }]', 'routes[0].backend.type', 'did you mean DynamicForwardProxy?'],
  ['routes: [{ backend: { hostRewriteHeader: "x rewrite" } }]', 'routes[0].backend.hostRewriteHeader', 'is not a valid header name'],
  ['routes: [{ backend: { hostRewriteHeadr: x } }]', 'routes[0].backend.hostRewriteHeadr', 'did you mean hostRewriteHeader?'],
  ['routes: [{ backend: { endpoints: ["127.0.0.1:1"] } }]', 'routes[0].backend.endpoints', 'only for type Static'],
  ['routes: [{ backend: { type: Static } }]', 'routes[0].backend.endpoints', 'type Static needs at least one host:port'],
  ['routes: [{ backend: { type: Static, endpoints: ["127.0.0.1:0"] } }]', 'routes[0].backend.endpoints[0]', 'port 0 is not allowed here'],
  ['routes: [{ backend: { type: Static, endpoints: ["127.0.0.1:1"], hostRewriteHeader: x } }]', 'routes[0].backend.hostRewriteHeader', 'only for type DynamicForwardProxy'],
  ['routes: [{ backend: { tls: { sni: "bad name!" } } }]', 'routes[0].backend.tls.sni', 'is not a host name'],
  ['routes: [{ backend: { tls: { verifyHostnames: true } } }]', 'routes[0].backend.tls.verifyHostnames', 'did you mean verifyHostname?'],
  ['routes: [{ match: { pathPrefix: api } }]', 'routes[0].match.pathPrefix', 'must start with /'],
  ['routes: [{ match: { hosts: ["a.*.com"] } }]', 'routes[0].match.hosts[0]', '"*" is only allowed as a whole first label'],
  ['routes: [{ match: { hosts: ["*."] } }]', 'routes[0].match.hosts[0]', 'after "*." must come a host name'],
  ['routes: [{ match: { headers: { "x y": z } } }]', 'routes[0].match.headers.x y', 'is not a valid header name'],
  ['routes: [{ match: { headers: { x-n: 1 } } }]', 'routes[0].match.headers.x-n', 'must be a string (quote it)'],
  ['routes: [{ match: { headers: [a] } }]', 'routes[0].match.headers', 'must be a mapping of header name to value'],
  ['routes: [{ match: { headers: { X-A: "1", x-a: "2" } } }]', 'routes[0].match.headers.x-a', 'header x-a listed twice'],
  ['routes: [{ match: { host: ["a"] } }]', 'routes[0].match.host', 'did you mean hosts?'],
  ['workers: 0', 'workers', 'must be between 1 and 256'],
  ['log: { level: verbose }', 'log.level', 'must be one of debug | info | warn | error'],
];

describe('resolveConfig: rejected files name the key path and reason', () => {
  it.each(BAD)('%s → %s', (text, path, reason) => {
    const err = rejection(text);
    expect(err.path).toBe(path);
    expect(err.reason).toContain(reason);
    expect(err.message).toBe(`config: ${path}: ${err.reason}`);
  });

  it('reports YAML syntax errors with the file name and position', () => {
    expect(() => parseConfigText('dns: { minTtl: 1s\n', 'c.yaml')).toThrow(/^config: c\.yaml: invalid YAML: .*line/);
    expect(() => parseConfigText('dns: {}\ndns: {}\n', 'c.yaml')).toThrow(/Map keys must be unique/);
  });
});

describe('route header matches', () => {
  it('keeps a "__proto__" header name as data, not as the prototype', () => {
    const headers = resolveYaml('routes: [{ match: { headers: { __proto__: x } } }]').routes[0]!.match.headers;
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.keys(headers)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toBe('x');
  });
});

describe('route host patterns', () => {
  it.each([
    ['*', '*'],
    ['*.Example.COM', '*.example.com'],
    ['api.example.com', 'api.example.com'],
    ['127.0.0.1', '127.0.0.1'],
    ['[::1]', '::1'],
    ['::1', '::1'],
  ])('%s is kept as %s', (glob, expected) => {
    expect(resolveYaml(`routes: [{ match: { hosts: ["${glob}"] } }]`).routes[0]!.match.hosts).toEqual([expected]);
  });
});

describe('files a config names are checked when it is read (dfp check refuses them, exit 2 at start)', () => {
  it('an htpasswd file in a format dfp cannot verify names the key, the file and the line', () => {
    writeFileSync(join(dir, 'apr1'), 'carol:$apr1$abcdefgh$0123456789abcdefghijkl\n');
    expect(() => resolveYaml(`auth: { basic: { passwordFile: ${join(dir, 'apr1')} } }`)).toThrow(/auth\.basic\.passwordFile: .*line 1 \(carol\): apr1/);
  });

  it('a listener certificate that is not PEM names the listener', () => {
    writeFileSync(join(dir, 'bad.pem'), 'not a certificate');
    expect(() => resolveYaml(`listeners: [{ address: 127.0.0.1:0, tls: { certFile: ${join(dir, 'bad.pem')}, keyFile: ${join(dir, 'key.pem')} } }]`)).toThrow(/listeners\[0\]\.tls: certFile .* cannot be used/);
  });

  it('workers: auto is one per core', () => {
    const c = resolveYaml('workers: auto');
    expect(c.workers).toBeGreaterThanOrEqual(1);
  });
});
