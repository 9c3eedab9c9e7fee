/**
 * `dfp check --config FILE --explain HOST[:PORT] [--mode forward|connect|gateway] [--user NAME] [--resolve]`:
 * the decision the proxy would make for a destination, the rule that makes it, and the steps that led
 * there. It runs the proxy's own decision functions (policy/access-policy.ts, decision.ts, routes.ts) on
 * the same compiled rules, so the explanation cannot drift from what the proxy does.
 * Exit status (cli/main.ts): 0 allowed, 1 denied.
 */
import type { Config, RouteConfig } from '../config/types.js';
import { ConfigError } from '../config/raw.js';
import { DnsCache, type ResolvedAddress } from '../dns/cache.js';
import { normalizeHost, type HostTarget } from '../dns/name.js';
import { ProxyError, toProxyError } from '../errors.js';
import { classifyAddress } from '../policy/address.js';
import { compileAccessPolicy, decideAddressesWithRules, decideName, isRuleDenial, NAME_ALLOWED, Reported, type AccessPolicy } from '../policy/access-policy.js';
import { decideConnectPort, noRoute, type Denial } from '../policy/decision.js';
import { parseHostPort } from '../policy/host-port.js';
import { hostMatchesGlob, hostMatchesRoutes } from '../proxy/routes.js';

export type ExplainMode = 'forward' | 'connect' | 'gateway';

export interface ExplainRequest {
  /** HOST or HOST:PORT ([IPv6]:PORT). */
  target: string;
  mode: ExplainMode;
  user: string | null;
  /** Resolve the name with the configured DNS servers and decide on each address. */
  resolve: boolean;
}

export interface Explanation {
  allowed: boolean;
  text: string;
}

export async function explain(config: Config, req: ExplainRequest): Promise<Explanation> {
  const lines: string[] = [];
  const step = (s: string): number => lines.push(`  ${s}`);
  const { host, port } = parseTarget(req.target, req.mode);
  const target = hostTarget(host);
  const shown = target.kind === 'name' ? target.name : target.address;
  lines.push(`${req.mode} ${target.kind === 'ip' && target.family === 6 ? `[${shown}]` : shown}:${port}`);
  const policy = compileAccessPolicy(config.access);
  const finish = (denial: Denial | null, wouldDeny: Denial | null = null): Explanation => {
    if (denial !== null) {
      const err = new ProxyError(denial.code, denial.detail, { rule: denial.rule });
      lines.push(`decision: denied — ${err.status} ${err.proxyStatus}, reason ${denial.reason}, rule: ${denial.rule}`);
      return { allowed: false, text: lines.join('\n') + '\n' };
    }
    if (wouldDeny !== null) {
      lines.push(`decision: allowed (access.mode: report) — in enforce mode: denied, reason ${wouldDeny.reason}, rule: ${wouldDeny.rule}; logged as would_deny`);
    } else {
      lines.push('decision: allowed');
    }
    return { allowed: true, text: lines.join('\n') + '\n' };
  };

  // Who: proxy authentication comes first; the user (else the client address) is the rate-limit key.
  const basic = config.auth.basic;
  if (basic === null) step(`auth: off${config.rateLimit.perClient ? '; rate-limit key: the client address' : ''}`);
  else if (req.user === null) step(`auth.basic: on (realm "${basic.realm}"): a request without valid credentials gets 407; explaining as an authenticated user`);
  else {
    const inline = basic.users.some((u) => u.username === req.user);
    const where = inline ? 'auth.basic.users' : basic.passwordFile !== null ? `passwordFile ${basic.passwordFile} (if it lists the user)` : null;
    if (where === null) {
      step(`auth.basic: user "${req.user}" is not configured: every request gets 407`);
      return finish({ reason: 'proxy_auth', code: 'AUTH_REQUIRED', detail: `unknown user ${req.user}`, rule: 'auth.basic' });
    }
    step(`auth.basic: user "${req.user}" from ${where}${config.rateLimit.perClient ? '; rate-limit key: the user' : ''}`);
  }
  if (config.rateLimit.perClient) step(`rateLimit.perClient: ${config.rateLimit.perClient.requestsPerSecond}/s, burst ${config.rateLimit.perClient.burst} (429 with Retry-After beyond)`);

  // Mode checks and routes.
  if (req.mode === 'connect') {
    const denial = decideConnectPort(config.access.connectPorts, port);
    step(`access.connectPorts ${config.access.connectPorts.length === 0 ? 'any' : `[${config.access.connectPorts.join(', ')}]`}: port ${port} ${denial === null ? 'allowed' : 'not allowed'}`);
    if (denial !== null) return finish(denial);
  }
  const routeDenial = explainRoutes(config.routes, target, req.mode, step);
  if (routeDenial !== null) return finish(routeDenial);

  // The name, before resolution.
  let nameAllowed = false;
  let wouldDeny: Denial | null = null;
  if (target.kind === 'name') {
    if (!policy.hasRules) step('access.allow / access.deny: none (every public destination)');
    else {
      const verdict = decideName(policy, target.name, port);
      for (const r of policy.deny.allMatches(target.name, port)) step(`name matches ${r.id}`);
      for (const r of policy.allow.allMatches(target.name, port)) step(`name matches ${r.id}`);
      if (verdict === NAME_ALLOWED) {
        nameAllowed = true;
        step('the name is allowed: its addresses still pass the guard and the deny rules');
      } else if (verdict === 0) {
        step(policy.allow.size === 0 ? 'no deny rule names it' : 'no rule names it: access.allow has address rules, so the resolved addresses decide');
      } else if (!policy.report) {
        step(`${verdict.detail} — refused before any DNS query`);
        return finish(verdict);
      } else {
        step(`${verdict.detail} — would be refused before any DNS query (report mode: let through)`);
        wouldDeny = verdict;
      }
    }
  }

  // The addresses, after resolution (what the proxy dials is what is checked).
  let addresses: readonly ResolvedAddress[];
  if (target.kind === 'ip') addresses = [{ address: target.address, family: target.family }];
  else if (!req.resolve) {
    step('addresses: not resolved (add --resolve to resolve with the configured DNS servers); the proxy refuses every address that is');
    step(`  not public unless allowPrivateDestinations (${config.access.allowPrivateDestinations}) or an allow address rule covers it; metadata addresses unless an allow rule names exactly that address`);
    if (policy.allow.size > 0 && !nameAllowed && wouldDeny === null) {
      // No allow rule names the host: only an allow address rule can admit it, and which addresses it
      // has is not known here. Not "allowed".
      lines.push('decision: undecided — no allow rule names the host; it is allowed only if an address it resolves to is covered by an allow address rule (run with --resolve)');
      return { allowed: false, text: lines.join('\n') + '\n' };
    }
    return finish(null, wouldDeny);
  } else {
    const dns = new DnsCache(config.dns);
    try {
      await dns.start();
      addresses = await dns.resolve(target.name);
    } catch (err) {
      // What the proxy answers then: the DNS error's own row of the error table, not a policy denial.
      const e = toProxyError(err);
      step(`DNS: ${e.detail || e.message}`);
      lines.push(`decision: no destination — ${e.status} ${e.proxyStatus} (${e.code})`);
      return { allowed: false, text: lines.join('\n') + '\n' };
    } finally {
      dns.close();
    }
    step(`resolved: ${addresses.map((a) => a.address).join(', ') || '(none)'}`);
  }
  for (const a of addresses) step(explainAddress(policy, a, port, nameAllowed));
  const result = decideAddressesWithRules(policy, addresses, port, nameAllowed);
  if (result instanceof Reported) return finish(null, wouldDeny ?? result.wouldDeny);
  if (!Array.isArray(result)) return finish(result as Denial);
  return finish(null, wouldDeny);
}

function explainAddress(policy: AccessPolicy, a: ResolvedAddress, port: number, nameAllowed: boolean): string {
  const cls = classifyAddress(a.address);
  const rules = [...policy.deny.allMatches(a.address, port), ...policy.allow.allMatches(a.address, port)].map((r) => r.id);
  const one = decideAddressesWithRules(policy, [a], port, nameAllowed);
  let verdict: string;
  if (one instanceof Reported) verdict = `would be refused: ${one.wouldDeny.detail} (report mode: dialled)`;
  else if (Array.isArray(one)) verdict = 'may be dialled';
  else {
    const d = one as Denial;
    verdict = `refused: ${d.detail}${d.detail.includes(d.rule) ? '' : ` (${d.rule})`}${isRuleDenial(d) ? '' : ' [guard: enforced in both modes]'}`;
  }
  return `address ${a.address}: ${cls}${rules.length > 0 ? `; matches ${rules.join('; ')}` : ''} — ${verdict}`;
}

/** Routes: which one takes the host (path "/" and no headers assumed), or the no_route denial. */
function explainRoutes(routes: readonly RouteConfig[], target: HostTarget, mode: ExplainMode, step: (s: string) => void): Denial | null {
  const host = target.kind === 'name' ? target.name : target.address;
  const isDefault = routes.length === 1 && routes[0]!.match.hosts.length === 0 && routes[0]!.backend.type === 'DynamicForwardProxy' && routes[0]!.backend.hostRewriteHeader === null;
  if (isDefault) {
    step('routes: the default route (every host)');
    return null;
  }
  if (mode === 'connect') {
    if (!hostMatchesRoutes(routes, host)) {
      step('routes: none admits this host for CONNECT (a route that needs a path or headers admits no tunnel)');
      return noRoute(host);
    }
    step('routes: a route admits this host for CONNECT');
    return null;
  }
  for (let i = 0; i < routes.length; i++) {
    const m = routes[i]!.match;
    if (m.hosts.length > 0 && !m.hosts.some((g) => hostMatchesGlob(host, g))) continue;
    const needs = [m.pathPrefix !== '/' && m.pathPrefix !== '' ? `path prefix ${m.pathPrefix}` : '', Object.keys(m.headers).length > 0 ? `headers ${Object.keys(m.headers).join(', ')}` : ''].filter(Boolean);
    const b = routes[i]!.backend;
    const what = b.type === 'DynamicForwardProxy' && b.hostRewriteHeader !== null ? ` (destination from header ${b.hostRewriteHeader} in gateway mode)` : '';
    step(`routes[${i}] matches the host${needs.length > 0 ? ` if the request has ${needs.join(' and ')}` : ''}${what}`);
    if (needs.length === 0) return null;
  }
  step('routes: no route matches this host');
  return noRoute(host);
}

function parseTarget(text: string, mode: ExplainMode): { host: string; port: number } {
  const defaultPort = mode === 'connect' ? 443 : 80;
  const bare = !text.startsWith('[') && text.indexOf(':') !== text.lastIndexOf(':');
  if (bare || (!text.includes(':') && !text.startsWith('['))) return { host: text, port: defaultPort };
  if (text.startsWith('[') && text.endsWith(']')) return { host: text, port: defaultPort };
  try {
    const hp = parseHostPort(text, false);
    return { host: hp.host.includes(':') ? `[${hp.host}]` : hp.host, port: hp.port };
  } catch (err) {
    throw new ConfigError('--explain', (err as Error).message);
  }
}

function hostTarget(host: string): HostTarget {
  try {
    return normalizeHost(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);
  } catch (err) {
    throw new ConfigError('--explain', `"${host}" is not a host name or IP address (${(err as ProxyError).detail || (err as Error).message})`);
  }
}
