/**
 * Kubernetes manifests → dfp routes, for users coming from the gateway docs:
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
 * - Gloo `VirtualService` (gateway.solo.io): domains → hosts, matchers[].prefix,
 *              routeAction.dynamicForwardProxy.autoHostRewriteHeader → hostRewriteHeader
 *
 * A file may also hold one plain dfp config document (no `kind`); the routes
 * come from the manifests. Anything that cannot be translated is rejected
 * naming `Kind/name` and the field.
 */
import {
  ConfigError,
  checkHeaderName,
  checkHostGlob,
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
 * merge the routes translated from the manifests into it.
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
  const routes: RawRoute[] = [];
  for (const m of manifests) if (m.kind === 'ConfigMap') configMaps.set(`${m.namespace}/${m.name}`, m);
  for (const m of manifests) {
    if (m.kind === 'Backend') backends.set(`${m.namespace}/${m.name}`, translateBackend(m, configMaps));
  }
  for (const m of manifests) {
    if (m.kind === 'HTTPRoute') routes.push(...translateHttpRoute(m, backends));
    else if (m.kind === 'VirtualService') routes.push(...translateVirtualService(m));
  }
  if (routes.length === 0) throw new ConfigError(fileName, 'the manifests define no routes (add an HTTPRoute whose backendRefs name the Backend)');
  if (base['routes'] !== undefined) throw new ConfigError('routes', 'given both in the config document and by Kubernetes manifests; keep one');
  return { ...base, routes };
}

const KINDS: Record<string, readonly string[]> = {
  Backend: ['gateway.kgateway.dev', 'gateway.envoyproxy.io'],
  HTTPRoute: ['gateway.networking.k8s.io'],
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
  if (groups === undefined) throw new ConfigError(path, `kind ${kind} cannot be translated (supported: Backend, HTTPRoute, VirtualService, ConfigMap)`);
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

function translateHttpRoute(m: Manifest, backends: Map<string, TranslatedBackend>): RawRoute[] {
  const p = `${m.path}.spec`;
  allowOnly(m.spec, p, ['parentRefs', 'hostnames', 'rules']);
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
