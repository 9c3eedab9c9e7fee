/**
 * Kubernetes manifests → dfp routes (and DNS settings), for users coming from the gateway docs:
 *
 * - kgateway   `Backend` (gateway.kgateway.dev) `type: DynamicForwardProxy`,
 *              `dynamicForwardProxy.enableTls` → backend.tls
 * - Envoy Gateway `Backend` (gateway.envoyproxy.io) `type: DynamicResolver`,
 *              `tls.wellKnownCACertificates: System` → backend.tls with system roots,
 *              `tls.caCertificateRefs` → backend.tls with the `ca.crt` of each named
 *              `ConfigMap` (v1, same namespace, in the same file)
 * - `HTTPRoute` (gateway.networking.k8s.io): hostnames → match.hosts, each
 *              rule × match → one route (PathPrefix, Exact headers), its one
 *              backendRef names a Backend above
 * - `Gateway` (gateway.networking.k8s.io): HTTP listeners are accepted; a route
 *              whose parentRef names a Gateway of this file must be admitted by it
 *              (allowedRoutes.namespaces.from All, or Same with the same namespace)
 * - Gloo `Gateway` (gateway.solo.io): httpGateway.options.dynamicForwardProxy.dnsCacheConfig
 *              → dns (dnsLookupFamily → lookupFamily, hostTtl, maxHosts, dnsQueryTimeout →
 *              queryTimeout, preresolveHostnames → preresolve, dnsCacheCircuitBreaker.
 *              maxPendingRequests → maxPendingLookups, caresDns.resolvers → servers)
 * - Gloo `VirtualService` (gateway.solo.io): domains → hosts, matchers[].prefix,
 *              routeAction.dynamicForwardProxy.autoHostRewriteHeader → hostRewriteHeader
 *
 * Where a Gateway listens (a listener's port, Gloo's bindAddress/bindPort) is where an
 * Envoy pod binds inside a cluster, behind a Service or a port-forward; it is checked but
 * not copied: dfp listens where --listen, a dfp config document or its default says.
 *
 * A file may also hold one plain dfp config document (no `kind`); the routes come from
 * the manifests, and DNS keys from a Gloo Gateway join its `dns` (the same key given by
 * both is rejected). Anything that cannot be translated is rejected naming `Kind/name`
 * and the field.
 */
import { parseDuration, formatDuration } from './duration.js';
import {
  ConfigError,
  checkDnsServer,
  checkEnum,
  checkHeaderName,
  checkHostGlob,
  checkHostName,
  checkInt,
  describe,
  readList,
  type RawObject,
  type RawCaItem,
  type RawRoute,
} from './raw.js';

interface Manifest {
  kind: string;
  group: string;
  name: string;
  namespace: string;
  spec: RawObject;
  /** Error path prefix: "Kind/name". */
  path: string;
}

type TranslatedBackend = NonNullable<RawRoute['backend']>;

export function isManifest(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && !Array.isArray(doc) && 'kind' in doc && 'apiVersion' in doc;
}

/**
 * Split the documents of a file into the dfp config document (if any) and
 * merge the routes (and DNS keys) translated from the manifests into it.
 */
export function translateManifests(documents: readonly unknown[], fileName: string): RawObject {
  let config: RawObject | null = null;
  const manifests: Manifest[] = [];
  documents.forEach((doc, i) => {
    if (isManifest(doc)) {
      manifests.push(readManifest(doc as RawObject, i));
    } else {
      if (config !== null) throw new ConfigError(fileName, `documents[${i}]: only one dfp config document (without kind) is allowed`);
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ConfigError(fileName, `documents[${i}]: must be a mapping`);
      config = doc as RawObject;
    }
  });
  const base: RawObject = config ?? {};
  if (manifests.length === 0) return base;
  const backends = new Map<string, TranslatedBackend>();
  const configMaps = new Map<string, Manifest>();
  const gateways = new Map<string, GatewayListeners>();
  const dns = new Map<string, DnsSetting>();
  const routes: RawRoute[] = [];
  for (const m of manifests) {
    if (m.kind === 'ConfigMap') configMaps.set(`${m.namespace}/${m.name}`, m);
    else if (m.kind === 'Gateway' && m.group === 'gateway.solo.io') translateGlooGateway(m, dns);
    else if (m.kind === 'Gateway') gateways.set(`${m.namespace}/${m.name}`, readGateway(m));
  }
  for (const m of manifests) {
    if (m.kind === 'Backend') backends.set(`${m.namespace}/${m.name}`, translateBackend(m, configMaps));
  }
  for (const m of manifests) {
    if (m.kind === 'HTTPRoute') routes.push(...translateHttpRoute(m, backends, gateways));
    else if (m.kind === 'VirtualService') routes.push(...translateVirtualService(m));
  }
  if (routes.length === 0) {
    throw new ConfigError(fileName, 'the manifests define no routes (add an HTTPRoute whose backendRefs name the Backend, or a Gloo VirtualService)');
  }
  if (base['routes'] !== undefined) throw new ConfigError('routes', 'given both in the config document and by Kubernetes manifests; keep one');
  const out: RawObject = { ...base, routes };
  if (dns.size > 0) out['dns'] = mergeDns(base['dns'], dns);
  return out;
}

const KINDS: Record<string, readonly string[]> = {
  Backend: ['gateway.kgateway.dev', 'gateway.envoyproxy.io'],
  HTTPRoute: ['gateway.networking.k8s.io'],
  Gateway: ['gateway.networking.k8s.io', 'gateway.solo.io'],
  VirtualService: ['gateway.solo.io'],
  ConfigMap: [''],
};

function readManifest(doc: RawObject, index: number): Manifest {
  const kind = String(doc['kind']);
  const apiVersion = String(doc['apiVersion']);
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const meta = (typeof doc['metadata'] === 'object' && doc['metadata'] !== null ? doc['metadata'] : {}) as RawObject;
  const name = typeof meta['name'] === 'string' ? meta['name'] : `documents[${index}]`;
  const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : 'default';
  const path = `${kind}/${name}`;
  const groups = KINDS[kind];
  if (groups === undefined) throw new ConfigError(path, `kind ${kind} cannot be translated (supported: ${Object.keys(KINDS).join(', ')})`);
  if (!groups.includes(group)) throw new ConfigError(`${path}.apiVersion`, `${apiVersion} cannot be translated (expected ${groups.map((g) => g || 'v1').join(' or ')})`);
  // A ConfigMap's content is its data (read when a Backend names it).
  const spec = kind === 'ConfigMap' ? (doc['data'] ?? {}) : doc['spec'];
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new ConfigError(`${path}.spec`, 'must be a mapping');
  return { kind, group, name, namespace, spec: spec as RawObject, path };
}

function allowOnly(obj: RawObject, path: string, keys: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!keys.includes(key)) throw new ConfigError(`${path}.${key}`, 'cannot be translated');
  }
}

function asObject(value: unknown, path: string): RawObject {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(path, `must be a mapping, not ${describe(value)}`);
  return value as RawObject;
}

function translateBackend(m: Manifest, configMaps: ReadonlyMap<string, Manifest>): TranslatedBackend {
  const p = `${m.path}.spec`;
  if (m.group === 'gateway.kgateway.dev') {
    if (m.spec['type'] !== 'DynamicForwardProxy') throw new ConfigError(`${p}.type`, `only type DynamicForwardProxy can be translated, not ${describe(m.spec['type'])}`);
    allowOnly(m.spec, p, ['type', 'dynamicForwardProxy']);
    const dfp = asObject(m.spec['dynamicForwardProxy'], `${p}.dynamicForwardProxy`);
    allowOnly(dfp, `${p}.dynamicForwardProxy`, ['enableTls']);
    const tls = dfp['enableTls'];
    if (tls !== undefined && typeof tls !== 'boolean') throw new ConfigError(`${p}.dynamicForwardProxy.enableTls`, 'must be true or false');
    return tls === true ? { type: 'DynamicForwardProxy', tls: { enabled: true, ca: 'system' } } : { type: 'DynamicForwardProxy' };
  }
  if (m.spec['type'] !== 'DynamicResolver') throw new ConfigError(`${p}.type`, `only type DynamicResolver can be translated, not ${describe(m.spec['type'])}`);
  allowOnly(m.spec, p, ['type', 'tls']);
  if (m.spec['tls'] === undefined || m.spec['tls'] === null) return { type: 'DynamicForwardProxy' };
  const tls = asObject(m.spec['tls'], `${p}.tls`);
  allowOnly(tls, `${p}.tls`, ['wellKnownCACertificates', 'caCertificateRefs']);
  const ca: RawCaItem[] = [];
  if (tls['wellKnownCACertificates'] !== undefined) {
    if (tls['wellKnownCACertificates'] !== 'System') throw new ConfigError(`${p}.tls.wellKnownCACertificates`, 'only System can be translated');
    ca.push('system');
  }
  (readList(tls, 'caCertificateRefs', `${p}.tls`) ?? []).forEach((item, i) => ca.push(caFromConfigMap(item, `${p}.tls.caCertificateRefs[${i}]`, m.namespace, configMaps)));
  if (ca.length === 0) throw new ConfigError(`${p}.tls`, 'needs wellKnownCACertificates: System or caCertificateRefs');
  return { type: 'DynamicForwardProxy', tls: { enabled: true, ca } };
}

/** A caCertificateRefs entry: the `ca.crt` of a ConfigMap of this file, in the Backend's namespace. */
function caFromConfigMap(item: unknown, path: string, namespace: string, configMaps: ReadonlyMap<string, Manifest>): RawCaItem {
  const ref = asObject(item, path);
  allowOnly(ref, path, ['group', 'kind', 'name']);
  if ((ref['group'] ?? '') !== '') throw new ConfigError(`${path}.group`, 'only the core group ("") can be translated');
  if (ref['kind'] !== 'ConfigMap') throw new ConfigError(`${path}.kind`, `only ConfigMap references can be translated, not ${describe(ref['kind'])}`);
  const name = ref['name'];
  if (typeof name !== 'string' || name.length === 0) throw new ConfigError(`${path}.name`, 'is required');
  const cm = configMaps.get(`${namespace}/${name}`);
  if (cm === undefined) throw new ConfigError(`${path}.name`, `no ConfigMap ${namespace}/${name} in this file`);
  const pem = cm.spec['ca.crt'];
  if (typeof pem !== 'string' || pem.length === 0) throw new ConfigError(`ConfigMap/${name}.data`, 'needs a ca.crt entry (a PEM bundle)');
  return { pem, source: `ConfigMap ${namespace}/${name} ca.crt` };
}

function translateHttpRoute(m: Manifest, backends: Map<string, TranslatedBackend>, gateways: ReadonlyMap<string, GatewayListeners>): RawRoute[] {
  const p = `${m.path}.spec`;
  allowOnly(m.spec, p, ['parentRefs', 'hostnames', 'rules']);
  (readList(m.spec, 'parentRefs', p) ?? []).forEach((ref, i) => checkParentRef(asObject(ref, `${p}.parentRefs[${i}]`), `${p}.parentRefs[${i}]`, m.namespace, gateways));
  const hosts = (readList(m.spec, 'hostnames', p) ?? []).map((h, i) => checkHostGlob(String(h), `${p}.hostnames[${i}]`));
  const rules = readList(m.spec, 'rules', p) ?? [];
  const routes: RawRoute[] = [];
  rules.forEach((item, i) => {
    const rp = `${p}.rules[${i}]`;
    const rule = asObject(item, rp);
    allowOnly(rule, rp, ['matches', 'backendRefs']);
    const refs = readList(rule, 'backendRefs', rp) ?? [];
    if (refs.length !== 1) throw new ConfigError(`${rp}.backendRefs`, `needs exactly one backendRef to a Backend, not ${refs.length}`);
    const ref = asObject(refs[0], `${rp}.backendRefs[0]`);
    if (ref['kind'] !== 'Backend') throw new ConfigError(`${rp}.backendRefs[0].kind`, `only Backend references can be translated, not ${describe(ref['kind'] ?? 'Service')}`);
    const ns = typeof ref['namespace'] === 'string' ? ref['namespace'] : m.namespace;
    const backend = backends.get(`${ns}/${String(ref['name'])}`);
    if (backend === undefined) throw new ConfigError(`${rp}.backendRefs[0].name`, `no Backend ${ns}/${String(ref['name'])} in this file`);
    const matches = readList(rule, 'matches', rp) ?? [{}];
    matches.forEach((mi, j) => {
      const mp = `${rp}.matches[${j}]`;
      const match = asObject(mi, mp);
      allowOnly(match, mp, ['path', 'headers']);
      routes.push({ match: { hosts, pathPrefix: readPathMatch(match['path'], `${mp}.path`), headers: readHeaderMatches(match, mp) }, backend });
    });
  });
  return routes;
}

function readPathMatch(value: unknown, path: string): string {
  if (value === undefined || value === null) return '/';
  const pm = asObject(value, path);
  allowOnly(pm, path, ['type', 'value']);
  if (pm['type'] !== undefined && pm['type'] !== 'PathPrefix') throw new ConfigError(`${path}.type`, `only PathPrefix can be translated, not ${describe(pm['type'])}`);
  const v = pm['value'] ?? '/';
  if (typeof v !== 'string' || v.charCodeAt(0) !== 0x2f) throw new ConfigError(`${path}.value`, 'must be a path starting with /');
  return v;
}

function readHeaderMatches(match: RawObject, path: string): Record<string, string> {
  const entries: [string, string][] = [];
  (readList(match, 'headers', path) ?? []).forEach((item, k) => {
    const hp = `${path}.headers[${k}]`;
    const h = asObject(item, hp);
    allowOnly(h, hp, ['type', 'name', 'value']);
    if (h['type'] !== undefined && h['type'] !== 'Exact') throw new ConfigError(`${hp}.type`, `only Exact can be translated, not ${describe(h['type'])}`);
    if (typeof h['value'] !== 'string') throw new ConfigError(`${hp}.value`, 'must be a string');
    const name = checkHeaderName(String(h['name']), `${hp}.name`);
    if (entries.some(([n]) => n === name)) throw new ConfigError(`${hp}.name`, `header ${name} listed twice`);
    entries.push([name, h['value']]);
  });
  return Object.fromEntries(entries);
}

function translateVirtualService(m: Manifest): RawRoute[] {
  const p = `${m.path}.spec`;
  allowOnly(m.spec, p, ['virtualHost']);
  const vh = asObject(m.spec['virtualHost'], `${p}.virtualHost`);
  allowOnly(vh, `${p}.virtualHost`, ['domains', 'routes']);
  const hosts = (readList(vh, 'domains', `${p}.virtualHost`) ?? []).map((d, i) => checkHostGlob(String(d), `${p}.virtualHost.domains[${i}]`));
  const out: RawRoute[] = [];
  (readList(vh, 'routes', `${p}.virtualHost`) ?? []).forEach((item, i) => {
    const rp = `${p}.virtualHost.routes[${i}]`;
    const route = asObject(item, rp);
    allowOnly(route, rp, ['matchers', 'routeAction']);
    const action = asObject(route['routeAction'], `${rp}.routeAction`);
    allowOnly(action, `${rp}.routeAction`, ['dynamicForwardProxy']);
    if (action['dynamicForwardProxy'] === undefined) throw new ConfigError(`${rp}.routeAction`, 'only dynamicForwardProxy can be translated');
    const dfp = asObject(action['dynamicForwardProxy'], `${rp}.routeAction.dynamicForwardProxy`);
    allowOnly(dfp, `${rp}.routeAction.dynamicForwardProxy`, ['autoHostRewriteHeader']);
    const header = dfp['autoHostRewriteHeader'];
    const backend: TranslatedBackend = { type: 'DynamicForwardProxy' };
    if (header !== undefined) backend.hostRewriteHeader = checkHeaderName(String(header), `${rp}.routeAction.dynamicForwardProxy.autoHostRewriteHeader`);
    const matchers = readList(route, 'matchers', rp) ?? [{}];
    matchers.forEach((mi, j) => {
      const mp = `${rp}.matchers[${j}]`;
      const matcher = asObject(mi, mp);
      allowOnly(matcher, mp, ['prefix']);
      const prefix = matcher['prefix'] ?? '/';
      if (typeof prefix !== 'string' || prefix.charCodeAt(0) !== 0x2f) throw new ConfigError(`${mp}.prefix`, 'must be a path starting with /');
      out.push({ match: { hosts, pathPrefix: prefix, headers: {} }, backend });
    });
  });
  return out;
}

// ---- Gateway (gateway.networking.k8s.io): which routes its HTTP listeners admit ----

/** A Gateway of this file: its namespace and, per listener, its port and whether it admits routes of other namespaces. */
interface GatewayListeners {
  namespace: string;
  listeners: Map<string, { port: number; isAnyNamespace: boolean }>;
}

function readGateway(m: Manifest): GatewayListeners {
  const p = `${m.path}.spec`;
  allowOnly(m.spec, p, ['gatewayClassName', 'listeners']);
  const listeners = new Map<string, { port: number; isAnyNamespace: boolean }>();
  (readList(m.spec, 'listeners', p) ?? []).forEach((item, i) => {
    const lp = `${p}.listeners[${i}]`;
    const l = asObject(item, lp);
    allowOnly(l, lp, ['name', 'protocol', 'port', 'allowedRoutes']);
    if (l['protocol'] !== 'HTTP') throw new ConfigError(`${lp}.protocol`, `only HTTP listeners can be translated, not ${describe(l['protocol'])} (for TLS to the proxy use listeners[].tls in a dfp config document)`);
    const port = checkInt(l['port'], `${lp}.port`, 1, 65535);
    const allowed = asObject(l['allowedRoutes'], `${lp}.allowedRoutes`);
    allowOnly(allowed, `${lp}.allowedRoutes`, ['namespaces']);
    const namespaces = asObject(allowed['namespaces'], `${lp}.allowedRoutes.namespaces`);
    allowOnly(namespaces, `${lp}.allowedRoutes.namespaces`, ['from']);
    const from = namespaces['from'] ?? 'Same';
    if (from !== 'All' && from !== 'Same') throw new ConfigError(`${lp}.allowedRoutes.namespaces.from`, `only All or Same can be translated, not ${describe(from)}`);
    listeners.set(String(l['name']), { port, isAnyNamespace: from === 'All' });
  });
  return { namespace: m.namespace, listeners };
}

/** A parentRef to a Gateway of this file must be one that admits the route (as Kubernetes would attach it). */
function checkParentRef(ref: RawObject, path: string, routeNamespace: string, gateways: ReadonlyMap<string, GatewayListeners>): void {
  if ((ref['group'] ?? 'gateway.networking.k8s.io') !== 'gateway.networking.k8s.io' || (ref['kind'] ?? 'Gateway') !== 'Gateway') return;
  const ns = typeof ref['namespace'] === 'string' ? ref['namespace'] : routeNamespace;
  const gateway = gateways.get(`${ns}/${String(ref['name'])}`);
  if (gateway === undefined) return; // a Gateway elsewhere: where it listens is not dfp's concern
  const section = ref['sectionName'];
  if (section !== undefined && !gateway.listeners.has(String(section))) throw new ConfigError(`${path}.sectionName`, `Gateway ${ns}/${String(ref['name'])} has no listener ${describe(section)}`);
  const admits = [...gateway.listeners].some(
    ([name, l]) => (section === undefined || name === section) && (ref['port'] === undefined || ref['port'] === l.port) && (l.isAnyNamespace || ns === routeNamespace),
  );
  if (!admits) throw new ConfigError(path, `no listener of Gateway ${ns}/${String(ref['name'])} admits routes from namespace ${routeNamespace} (allowedRoutes.namespaces.from: Same)`);
}

// ---- Gloo Gateway (gateway.solo.io): the dynamic forward proxy's DNS cache ----

/** A dfp `dns` key set by a Gloo Gateway, and the field it came from. */
interface DnsSetting {
  value: unknown;
  path: string;
}

const LOOKUP_FAMILIES = ['V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'AUTO', 'ALL'] as const;

function translateGlooGateway(m: Manifest, dns: Map<string, DnsSetting>): void {
  const p = `${m.path}.spec`;
  allowOnly(m.spec, p, ['bindAddress', 'bindPort', 'httpGateway', 'proxyNames', 'ssl', 'useProxyProto']);
  if (m.spec['bindAddress'] !== undefined && (typeof m.spec['bindAddress'] !== 'string' || m.spec['bindAddress'] === '')) throw new ConfigError(`${p}.bindAddress`, 'must be an address');
  if (m.spec['bindPort'] !== undefined) checkInt(m.spec['bindPort'], `${p}.bindPort`, 1, 65535);
  if (m.spec['ssl'] === true) throw new ConfigError(`${p}.ssl`, 'cannot be translated (for TLS to the proxy use listeners[].tls in a dfp config document)');
  if (m.spec['useProxyProto'] === true) throw new ConfigError(`${p}.useProxyProto`, 'cannot be translated (listeners[].proxyProtocol in a dfp config document)');
  const http = asObject(m.spec['httpGateway'], `${p}.httpGateway`);
  allowOnly(http, `${p}.httpGateway`, ['options']);
  const options = asObject(http['options'], `${p}.httpGateway.options`);
  allowOnly(options, `${p}.httpGateway.options`, ['dynamicForwardProxy']);
  const fp = `${p}.httpGateway.options.dynamicForwardProxy`;
  const filter = asObject(options['dynamicForwardProxy'], fp);
  // saveUpstreamAddress: dfp always records the address it dialled (the access log's `address`).
  allowOnly(filter, fp, ['dnsCacheConfig', 'saveUpstreamAddress']);
  const cp = `${fp}.dnsCacheConfig`;
  const cache = asObject(filter['dnsCacheConfig'], cp);
  allowOnly(cache, cp, ['dnsLookupFamily', 'hostTtl', 'maxHosts', 'dnsQueryTimeout', 'preresolveHostnames', 'dnsCacheCircuitBreaker', 'caresDns', 'dnsRefreshRate', 'dnsFailureRefreshRate']);
  const set = (key: string, field: string, value: unknown): void => {
    const path = `${cp}.${field}`;
    const earlier = dns.get(key);
    if (earlier !== undefined && JSON.stringify(earlier.value) !== JSON.stringify(value)) throw new ConfigError(path, `differs from ${earlier.path} (dfp has one DNS cache)`);
    dns.set(key, { value, path });
  };
  if (cache['dnsRefreshRate'] !== undefined) throw new ConfigError(`${cp}.dnsRefreshRate`, 'cannot be translated: dfp resolves a name again when its records expire (dns.minTtl / dns.maxTtl bound their TTL)');
  if (cache['dnsFailureRefreshRate'] !== undefined) throw new ConfigError(`${cp}.dnsFailureRefreshRate`, 'cannot be translated: dfp caches a failed lookup for dns.negativeTtl');
  if (cache['dnsLookupFamily'] !== undefined) set('lookupFamily', 'dnsLookupFamily', checkEnum(cache['dnsLookupFamily'], `${cp}.dnsLookupFamily`, LOOKUP_FAMILIES));
  if (cache['hostTtl'] !== undefined) set('hostTtl', 'hostTtl', readGlooDuration(cache['hostTtl'], `${cp}.hostTtl`));
  if (cache['dnsQueryTimeout'] !== undefined) set('queryTimeout', 'dnsQueryTimeout', readGlooDuration(cache['dnsQueryTimeout'], `${cp}.dnsQueryTimeout`));
  if (cache['maxHosts'] !== undefined) set('maxHosts', 'maxHosts', checkInt(cache['maxHosts'], `${cp}.maxHosts`, 1, 10_000_000));
  const breaker = asObject(cache['dnsCacheCircuitBreaker'], `${cp}.dnsCacheCircuitBreaker`);
  allowOnly(breaker, `${cp}.dnsCacheCircuitBreaker`, ['maxPendingRequests']);
  if (breaker['maxPendingRequests'] !== undefined) {
    set('maxPendingLookups', 'dnsCacheCircuitBreaker.maxPendingRequests', checkInt(breaker['maxPendingRequests'], `${cp}.dnsCacheCircuitBreaker.maxPendingRequests`, 1, 1_000_000));
  }
  const names = readList(cache, 'preresolveHostnames', cp);
  if (names !== undefined) {
    // Each is a SocketAddress; dfp caches names, whatever port they are dialled on.
    set('preresolve', 'preresolveHostnames', names.map((item, i) => {
      const ap = `${cp}.preresolveHostnames[${i}]`;
      const a = asObject(item, ap);
      allowOnly(a, ap, ['address', 'portValue']);
      if (a['portValue'] !== undefined) checkInt(a['portValue'], `${ap}.portValue`, 0, 65535);
      return checkHostName(String(a['address'] ?? ''), `${ap}.address`);
    }));
  }
  if (cache['caresDns'] !== undefined) set('servers', 'caresDns.resolvers', readCaresResolvers(asObject(cache['caresDns'], `${cp}.caresDns`), `${cp}.caresDns`));
}

/** caresDns: its resolvers (socket addresses) → dns.servers; the options dfp already behaves as. */
function readCaresResolvers(cares: RawObject, path: string): string[] {
  allowOnly(cares, path, ['resolvers', 'dnsResolverOptions']);
  const options = asObject(cares['dnsResolverOptions'], `${path}.dnsResolverOptions`);
  allowOnly(options, `${path}.dnsResolverOptions`, ['useTcpForDnsLookups', 'noDefaultSearchDomain']);
  if (options['useTcpForDnsLookups'] === true) throw new ConfigError(`${path}.dnsResolverOptions.useTcpForDnsLookups`, 'cannot be translated: dfp queries over UDP (TCP only for a truncated answer)');
  if (options['noDefaultSearchDomain'] === false) throw new ConfigError(`${path}.dnsResolverOptions.noDefaultSearchDomain`, 'cannot be translated: dfp never appends search domains');
  const resolvers = readList(cares, 'resolvers', path) ?? [];
  if (resolvers.length === 0) throw new ConfigError(`${path}.resolvers`, 'needs at least one resolver');
  return resolvers.map((item, i) => {
    const rp = `${path}.resolvers[${i}]`;
    const r = asObject(item, rp);
    allowOnly(r, rp, ['socketAddress']);
    const sa = asObject(r['socketAddress'], `${rp}.socketAddress`);
    allowOnly(sa, `${rp}.socketAddress`, ['address', 'portValue']);
    const address = String(sa['address'] ?? '');
    const port = sa['portValue'] === undefined ? 53 : checkInt(sa['portValue'], `${rp}.socketAddress.portValue`, 1, 65535);
    const text = port === 53 ? address : address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    return checkDnsServer(text, `${rp}.socketAddress`);
  });
}

/** A protobuf Duration as Gloo writes it ("5s", "0.5s"), as dfp's duration text; must be positive. */
function readGlooDuration(value: unknown, path: string): string {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    throw new ConfigError(path, (err as Error).message);
  }
  if (ms <= 0) throw new ConfigError(path, 'must be longer than 0');
  return formatDuration(ms);
}

/** The config document's `dns` with the keys a Gloo Gateway set; a key set by both is rejected. */
function mergeDns(base: unknown, settings: ReadonlyMap<string, DnsSetting>): RawObject {
  const dns = { ...asObject(base, 'dns') };
  for (const [key, s] of settings) {
    if (dns[key] !== undefined) throw new ConfigError(`dns.${key}`, `given both in the config document and by ${s.path}; keep one`);
    dns[key] = s.value;
  }
  return dns;
}
