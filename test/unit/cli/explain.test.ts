/**
 * `dfp check --explain`: for each kind of rule, the decision, the rule and the steps, from the proxy's own
 * decision functions; `--resolve` asks the test's DNS server (127.0.0.1) and decides on each address.
 * The CLI's exit status: 0 allowed, 1 denied.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { explain, type ExplainRequest } from '../../../src/cli/explain.js';
import { defaultConfig } from '../../../src/config/defaults.js';
import type { Config } from '../../../src/config/types.js';
import { startDnsServer } from '../../helpers/dns-server.js';

const entries = (...rules: string[]) => rules.map((rule) => ({ rule, name: null }));

function config(tweak: (c: Config) => void): Config {
  const c = defaultConfig();
  tweak(c);
  return c;
}

const req = (target: string, more: Partial<ExplainRequest> = {}): ExplainRequest => ({ target, mode: 'forward', user: null, resolve: false, ...more });

describe('dfp check --explain', () => {
  it('a deny rule: denied before DNS, naming the rule', async () => {
    const r = await explain(config((c) => (c.access.deny = entries('*.tracker.test'))), req('ads.tracker.test'));
    expect(r.allowed).toBe(false);
    expect(r.text).toContain('name matches deny rule 0: *.tracker.test');
    expect(r.text).toContain('refused before any DNS query');
    expect(r.text).toMatch(/decision: denied — 403 http_request_denied, reason deny_rule, rule: deny rule 0: \*\.tracker\.test/);
  });

  it('an allow glob admits a name; another name is not in access.allow', async () => {
    const c = config((c) => (c.access.allow = entries('*.example.test:443')));
    const ok = await explain(c, req('api.example.test:443', { mode: 'connect' }));
    expect(ok.allowed).toBe(true);
    expect(ok.text).toContain('name matches allow rule 0: *.example.test:443');
    expect(ok.text).toContain('decision: allowed');
    const wrongPort = await explain(c, req('api.example.test:8443', { mode: 'connect' }));
    expect(wrongPort.allowed).toBe(false);
    expect(wrongPort.text).toContain('access.connectPorts [443]: port 8443 not allowed');
    const other = await explain(c, req('other.test:443', { mode: 'connect' }));
    expect(other.allowed).toBe(false);
    expect(other.text).toContain('reason not_allowed, rule: access.allow');
  });

  it('an IP literal: the address class and the CIDR rules that match it', async () => {
    const c = config((c) => {
      c.access.allow = entries('10.0.0.0/8:80');
      c.access.deny = entries('10.9.0.0/16');
    });
    const opened = await explain(c, req('10.1.2.3:80'));
    expect(opened.allowed).toBe(true);
    expect(opened.text).toContain('address 10.1.2.3: private; matches allow rule 0: 10.0.0.0/8:80 — may be dialled');
    const denied = await explain(c, req('10.9.1.1:80'));
    expect(denied.allowed).toBe(false);
    expect(denied.text).toContain('10.9.1.1 matches deny rule 0: 10.9.0.0/16');
    expect(denied.text).toContain('403 destination_ip_prohibited');
  });

  it('without --resolve, a host only an allow address rule could admit is undecided, not allowed (exit 1)', async () => {
    const r = await explain(config((c) => (c.access.allow = entries('203.0.113.0/24'))), req('example.test'));
    expect(r.allowed).toBe(false);
    expect(r.text).toContain('decision: undecided — no allow rule names the host');
  });

  it('the guard: metadata is refused even under a wide allow rule, and says it is enforced in both modes', async () => {
    const r = await explain(config((c) => (c.access.allow = entries('169.254.0.0/16'))), req('169.254.169.254'));
    expect(r.allowed).toBe(false);
    expect(r.text).toContain('address 169.254.169.254: metadata; matches allow rule 0: 169.254.0.0/16 — refused: 169.254.169.254 is metadata (default: cloud metadata) [guard: enforced in both modes]');
  });

  it('report mode: allowed, with what enforce mode would do', async () => {
    const r = await explain(config((c) => {
      c.access.mode = 'report';
      c.access.deny = entries('bad.test');
    }), req('bad.test'));
    expect(r.allowed).toBe(true);
    expect(r.text).toContain('decision: allowed (access.mode: report) — in enforce mode: denied, reason deny_rule, rule: deny rule 0: bad.test');
  });

  it('routes: a host no route names is no_route; gateway mode names the rewrite header', async () => {
    const c = config((c) => {
      c.routes = [{ match: { hosts: ['*.internal.test'], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: 'x-dest', tls: null } }];
    });
    const routed = await explain(c, req('a.internal.test', { mode: 'gateway' }));
    expect(routed.text).toContain('routes[0] matches the host (destination from header x-dest in gateway mode)');
    const none = await explain(c, req('elsewhere.test'));
    expect(none.allowed).toBe(false);
    expect(none.text).toContain('reason no_route');
  });

  it('users: an unknown user is refused, a configured one is the rate-limit key', async () => {
    const c = config((c) => {
      c.auth.basic = { realm: 'dfp', users: [{ username: 'alice', password: 'secret' }], passwordFile: null };
      c.rateLimit.perClient = { requestsPerSecond: 5, burst: 10 };
    });
    const alice = await explain(c, req('example.test', { user: 'alice' }));
    expect(alice.text).toContain('auth.basic: user "alice" from auth.basic.users; rate-limit key: the user');
    expect(alice.text).not.toContain('secret');
    const mallory = await explain(c, req('example.test', { user: 'mallory' }));
    expect(mallory.allowed).toBe(false);
    expect(mallory.text).toContain('407');
  });

  it('--resolve: each address of a name that mixes public and private answers, and the decision', async () => {
    const dns = await startDnsServer();
    onTestFinished(() => dns.close());
    dns.set('mixed.test', { a: ['93.184.216.34', '10.0.0.7'] });
    dns.set('inside.test', { a: ['10.0.0.8'] });
    const c = config((c) => {
      c.dns.servers = [dns.address];
      c.dns.queryTimeoutMs = 1000;
      c.dns.retries = 0;
    });
    const mixed = await explain(c, req('mixed.test', { resolve: true }));
    expect(mixed.allowed).toBe(true);
    expect(mixed.text).toContain('resolved: 93.184.216.34, 10.0.0.7');
    expect(mixed.text).toContain('address 93.184.216.34: public — may be dialled');
    expect(mixed.text).toContain('address 10.0.0.7: private — refused: 10.0.0.7 is private (default: private destinations) [guard: enforced in both modes]');
    // A name that does not exist: what the proxy answers then (the error table), not a policy denial.
    const nx = await explain(c, req('nx.test', { resolve: true }));
    expect(nx.allowed).toBe(false);
    expect(nx.text).toContain('decision: no destination — 502 dns_error (DNS_NXDOMAIN)');
    const inside = await explain(c, req('inside.test', { resolve: true }));
    expect(inside.allowed).toBe(false);
    expect(inside.text).toContain('reason private_destination');
  });

  it('the CLI: exit 0 allowed, 1 denied, the explanation on stdout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfp-explain-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'dfp.yaml');
    writeFileSync(file, 'access:\n  deny: ["*.blocked.test"]\n');
    const run = (args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) => {
        execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'check', '--config', file, ...args], { timeout: 15_000 }, (err, stdout) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout }),
        );
      });
    const denied = await run(['--explain', 'x.blocked.test:443', '--mode', 'connect']);
    expect(denied.code).toBe(1);
    expect(denied.out).toContain('deny rule 0: *.blocked.test');
    const allowed = await run(['--explain', 'fine.test']);
    expect(allowed.code).toBe(0);
    expect(allowed.out).toContain('decision: allowed');
  });
});
