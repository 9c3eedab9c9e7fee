import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../../src/config/defaults.js';
import { translateManifests } from '../../../src/config/manifests.js';
import { ConfigError, parseConfigText } from '../../../src/config/raw.js';
import { resolveConfig } from '../../../src/config/resolve.js';

function translate(text: string) {
  return resolveConfig(translateManifests(parseConfigText(text, 'k8s.yaml'), 'k8s.yaml'), null, { baseDir: '/' });
}

function rejection(text: string): ConfigError {
  try {
    translate(text);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('accepted');
}

const KGATEWAY_BACKEND = `apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: dfp-backend, namespace: httpbin }
spec:
  type: DynamicForwardProxy
  dynamicForwardProxy: { enableTls: true }
`;

const EG_BACKEND = `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: { name: backend-dynamic-resolver }
spec:
  type: DynamicResolver
  tls: { wellKnownCACertificates: System }
`;

function route(body: string, name = 'r', namespace = 'httpbin'): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ${namespace} }
spec:
${body}`;
}

const SYSTEM_TLS = { enabled: true, trust: { system: true, caFiles: [], caPems: [] }, sni: 'auto', verifyHostname: true };

describe('translateManifests', () => {
  it('kgateway Backend + HTTPRoute (one route per match, PathPrefix and Exact headers)', () => {
    const c = translate(
      KGATEWAY_BACKEND +
        '---\n' +
        route(`  parentRefs: [{ name: http }]
  hostnames: ["*.Example.com", api.test]
  rules:
    - matches:
        - path: { type: PathPrefix, value: /v1 }
        - path: { type: PathPrefix, value: /v2 }
          headers: [{ type: Exact, name: X-Env, value: prod }]
      backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: dfp-backend }]
`),
    );
    expect(c.routes).toEqual([
      { match: { hosts: ['*.example.com', 'api.test'], pathPrefix: '/v1', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: SYSTEM_TLS } },
      { match: { hosts: ['*.example.com', 'api.test'], pathPrefix: '/v2', headers: { 'x-env': 'prod' } }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: SYSTEM_TLS } },
    ]);
  });

  it('Envoy Gateway DynamicResolver with system CAs', () => {
    const c = translate(EG_BACKEND + '---\n' + route('  rules: [{ backendRefs: [{ group: gateway.envoyproxy.io, kind: Backend, name: backend-dynamic-resolver }] }]\n', 'r', 'default'));
    expect(c.routes).toEqual([{ match: { hosts: [], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: SYSTEM_TLS } }]);
  });

  it('Envoy Gateway DynamicResolver with caCertificateRefs: the ca.crt of a ConfigMap in the same file, inline', () => {
    const pem = '-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n';
    const backend = EG_BACKEND.replace('{ wellKnownCACertificates: System }', '{ wellKnownCACertificates: System, caCertificateRefs: [{ group: "", kind: ConfigMap, name: corp-ca }] }');
    const configMap = `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: corp-ca }\ndata:\n  ca.crt: "${pem}"\n`;
    const c = translate(backend + '---\n' + configMap + '---\n' + route('  rules: [{ backendRefs: [{ group: gateway.envoyproxy.io, kind: Backend, name: backend-dynamic-resolver }] }]\n', 'r', 'default'));
    const tls = c.routes[0]!.backend.tls!;
    expect(tls.trust).toEqual({ system: true, caFiles: [], caPems: [{ source: 'ConfigMap default/corp-ca ca.crt', pem: pem.replaceAll('\\n', '\n') }] });
  });

  it('Gloo VirtualService autoHostRewriteHeader → hostRewriteHeader', () => {
    const c = translate(`apiVersion: gateway.solo.io/v1
kind: VirtualService
metadata: { name: test-static, namespace: gloo-system }
spec:
  virtualHost:
    domains: [foo]
    routes:
      - matchers: [{ prefix: / }]
        routeAction:
          dynamicForwardProxy:
            autoHostRewriteHeader: X-Rewrite-Me
`);
    expect(c.routes).toEqual([{ match: { hosts: ['foo'], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: 'x-rewrite-me', tls: null } }]);
  });

  it.each([
    [EG_BACKEND.replace('{ wellKnownCACertificates: System }', '{ caCertificateRefs: [{ name: ca, kind: ConfigMap }] }') + '---\n' + route('  rules: []\n'), 'Backend/backend-dynamic-resolver.spec.tls.caCertificateRefs[0].name', 'no ConfigMap default/ca in this file'],
    [EG_BACKEND.replace('{ wellKnownCACertificates: System }', '{ caCertificateRefs: [{ name: ca, kind: Secret }] }'), 'Backend/backend-dynamic-resolver.spec.tls.caCertificateRefs[0].kind', 'only ConfigMap references can be translated, not "Secret"'],
    [EG_BACKEND.replace('{ wellKnownCACertificates: System }', '{ caCertificateRefs: [{ name: ca, kind: ConfigMap }] }') + '---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: ca }\ndata: { other: x }\n', 'ConfigMap/ca.data', 'needs a ca.crt entry'],
    [EG_BACKEND.replace('{ wellKnownCACertificates: System }', '{}'), 'Backend/backend-dynamic-resolver.spec.tls', 'needs wellKnownCACertificates: System or caCertificateRefs'],
    [KGATEWAY_BACKEND.replace('type: DynamicForwardProxy', 'type: Static'), 'Backend/dfp-backend.spec.type', 'only type DynamicForwardProxy can be translated'],
    ['apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: { name: gc }\nspec: {}\n', 'GatewayClass/gc', 'kind GatewayClass cannot be translated'],
    ['apiVersion: example.com/v1\nkind: Backend\nmetadata: { name: b }\nspec: {}\n', 'Backend/b.apiVersion', 'example.com/v1 cannot be translated'],
    [KGATEWAY_BACKEND + '---\n' + route('  rules: [{ backendRefs: [{ name: httpbin, port: 8000 }] }]\n'), 'HTTPRoute/r.spec.rules[0].backendRefs[0].kind', 'only Backend references can be translated, not "Service"'],
    [KGATEWAY_BACKEND + '---\n' + route('  rules: [{ backendRefs: [{ kind: Backend, name: nope }] }]\n'), 'HTTPRoute/r.spec.rules[0].backendRefs[0].name', 'no Backend httpbin/nope in this file'],
    [KGATEWAY_BACKEND + '---\n' + route('  rules: [{ backendRefs: [{ kind: Backend, name: dfp-backend }] }]\n', 'r', 'other'), 'HTTPRoute/r.spec.rules[0].backendRefs[0].name', 'no Backend other/dfp-backend'],
    [KGATEWAY_BACKEND + '---\n' + route('  rules: [{ matches: [{ path: { type: RegularExpression, value: "/a.*" } }], backendRefs: [{ kind: Backend, name: dfp-backend }] }]\n'), 'HTTPRoute/r.spec.rules[0].matches[0].path.type', 'only PathPrefix can be translated'],
    [KGATEWAY_BACKEND + '---\n' + route('  rules: [{ filters: [], backendRefs: [{ kind: Backend, name: dfp-backend }] }]\n'), 'HTTPRoute/r.spec.rules[0].filters', 'cannot be translated'],
    [KGATEWAY_BACKEND + '---\n' + route('  hostnames: ["a.*.test"]\n  rules: []\n'), 'HTTPRoute/r.spec.hostnames[0]', '"*" is only allowed as a whole first label'],
    [KGATEWAY_BACKEND, 'k8s.yaml', 'the manifests define no routes'],
    ['routes: [{}]\n---\n' + KGATEWAY_BACKEND + '---\n' + route('  rules: [{ backendRefs: [{ kind: Backend, name: dfp-backend }] }]\n'), 'routes', 'given both in the config document and by Kubernetes manifests'],
  ])('rejects untranslatable manifests by name (%#)', (text, path, reason) => {
    const err = rejection(text);
    expect(err.path).toBe(path);
    expect(err.reason).toContain(reason);
  });
});

/** An example of examples/, as `dfp --config` reads it. */
function example(name: string) {
  const path = new URL(`../../../examples/${name}/dynamic-forward-proxy.yaml`, import.meta.url);
  const text = readFileSync(path, 'utf8');
  return resolveConfig(translateManifests(parseConfigText(text, path.pathname), path.pathname), null, { baseDir: '/' });
}

const ANY_HOST = { hosts: [], pathPrefix: '/', headers: {} };

describe('the docs’ examples (examples/*/dynamic-forward-proxy.yaml) translate as written', () => {
  it('kgateway: Gateway + DynamicForwardProxy Backend + HTTPRoute → one plain route for any host; listeners and dns stay dfp’s', () => {
    const c = example('kgateway');
    expect(c.routes).toEqual([{ match: ANY_HOST, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: null } }]);
    expect(c.listeners).toEqual(defaultConfig().listeners); // the Gateway's port 8080 is not copied
    expect(c.dns).toEqual(defaultConfig().dns);
  });

  it('Gloo: the patched Gateway (dynamicForwardProxy: {}) + VirtualService → host foo, destination from x-rewrite-me; dns unchanged', () => {
    const c = example('gloo-gateway');
    expect(c.routes).toEqual([{ match: { hosts: ['foo'], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: 'x-rewrite-me', tls: null } }]);
    expect(c.listeners).toEqual(defaultConfig().listeners);
    expect(c.dns).toEqual(defaultConfig().dns);
  });

  it('Envoy Gateway: DynamicResolver Backend with wellKnownCACertificates: System + HTTPRoute → one TLS route for any host, system roots', () => {
    const c = example('envoy-gateway');
    expect(c.routes).toEqual([{ match: ANY_HOST, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: SYSTEM_TLS } }]);
  });
});

const VIRTUAL_SERVICE = `apiVersion: gateway.solo.io/v1
kind: VirtualService
metadata: { name: test-static, namespace: gloo-system }
spec:
  virtualHost:
    domains: ['*']
    routes: [{ matchers: [{ prefix: / }], routeAction: { dynamicForwardProxy: {} } }]
`;

/** A Gloo Gateway whose dynamicForwardProxy filter is `filter` (YAML flow text), plus a VirtualService. */
function glooGateway(filter: string, spec = '', name = 'gateway-proxy'): string {
  return `apiVersion: gateway.solo.io/v1
kind: Gateway
metadata: { name: ${name}, namespace: gloo-system }
spec:
${spec}  httpGateway:
    options:
      dynamicForwardProxy: ${filter}
---
${VIRTUAL_SERVICE}`;
}

const FILTER = 'Gateway/gateway-proxy.spec.httpGateway.options.dynamicForwardProxy';
const CACHE = `${FILTER}.dnsCacheConfig`;

describe('Gloo Gateway dnsCacheConfig → dns', () => {
  it('maps every translatable field, and accepts the installed Gateway’s bindAddress, bindPort, proxyNames, ssl: false, useProxyProto: false', () => {
    const c = translate(
      glooGateway(
        `
        saveUpstreamAddress: true
        dnsCacheConfig:
          dnsLookupFamily: V4_ONLY
          hostTtl: 600s
          maxHosts: 2048
          dnsQueryTimeout: 2.5s
          preresolveHostnames: [{ address: httpbin.org, portValue: 443 }, { address: Example.COM }]
          dnsCacheCircuitBreaker: { maxPendingRequests: 64 }
          caresDns:
            resolvers: [{ socketAddress: { address: 10.0.0.53 } }, { socketAddress: { address: "::1", portValue: 5353 } }]
            dnsResolverOptions: { noDefaultSearchDomain: true, useTcpForDnsLookups: false }`,
        "  bindAddress: '::'\n  bindPort: 8080\n  proxyNames: [gateway-proxy]\n  ssl: false\n  useProxyProto: false\n",
      ),
    );
    expect(c.dns).toEqual({
      ...defaultConfig().dns,
      lookupFamily: 'V4_ONLY',
      hostTtlMs: 600_000,
      maxHosts: 2048,
      queryTimeoutMs: 2_500,
      preresolve: ['httpbin.org', 'example.com'],
      maxPendingLookups: 64,
      servers: ['10.0.0.53', '[::1]:5353'],
    });
    expect(c.listeners).toEqual(defaultConfig().listeners); // bindAddress '::' does not open dfp to every interface
    expect(c.routes).toHaveLength(1);
  });

  it('joins the dns of a dfp config document in the same file', () => {
    const c = translate('dns: { minTtl: 2s }\n---\n' + glooGateway('{ dnsCacheConfig: { maxHosts: 10 } }'));
    expect(c.dns).toMatchObject({ minTtlMs: 2_000, maxHosts: 10 });
  });

  it('two Gateways may repeat a setting with the same value', () => {
    const second = glooGateway('{ dnsCacheConfig: { maxHosts: 10 } }', '', 'b').split('---\n')[0]!;
    expect(translate(glooGateway('{ dnsCacheConfig: { maxHosts: 10 } }') + '---\n' + second).dns.maxHosts).toBe(10);
  });

  it.each([
    ['dns: { hostTtl: 1m }\n---\n' + glooGateway('{ dnsCacheConfig: { hostTtl: 60s } }'), 'dns.hostTtl', `given both in the config document and by ${CACHE}.hostTtl`],
    [
      glooGateway('{ dnsCacheConfig: { maxHosts: 10 } }') + '---\n' + glooGateway('{ dnsCacheConfig: { maxHosts: 20 } }', '', 'b').split('---\n')[0],
      'Gateway/b.spec.httpGateway.options.dynamicForwardProxy.dnsCacheConfig.maxHosts',
      `differs from ${CACHE}.maxHosts (dfp has one DNS cache)`,
    ],
    [glooGateway('{ dnsCacheConfig: { dnsRefreshRate: 60s } }'), `${CACHE}.dnsRefreshRate`, 'cannot be translated: dfp resolves a name again when its records expire'],
    [glooGateway('{ dnsCacheConfig: { dnsFailureRefreshRate: { baseInterval: 1s } } }'), `${CACHE}.dnsFailureRefreshRate`, 'dns.negativeTtl'],
    [glooGateway('{ dnsCacheConfig: { appleDns: {} } }'), `${CACHE}.appleDns`, 'cannot be translated'],
    [glooGateway('{ dnsCacheConfig: { dnsLookupFamily: V6_PREFERRED } }'), `${CACHE}.dnsLookupFamily`, 'must be one of V4_ONLY | V6_ONLY | V4_PREFERRED | AUTO | ALL'],
    [glooGateway('{ dnsCacheConfig: { hostTtl: 0s } }'), `${CACHE}.hostTtl`, 'must be longer than 0'],
    [glooGateway('{ dnsCacheConfig: { dnsQueryTimeout: 5 } }'), `${CACHE}.dnsQueryTimeout`, 'a duration needs a unit'],
    [glooGateway('{ dnsCacheConfig: { maxHosts: 0 } }'), `${CACHE}.maxHosts`, 'must be between 1 and 10000000'],
    [glooGateway('{ dnsCacheConfig: { dnsCacheCircuitBreaker: { maxPendingRequests: 0 } } }'), `${CACHE}.dnsCacheCircuitBreaker.maxPendingRequests`, 'must be between 1'],
    [glooGateway('{ dnsCacheConfig: { preresolveHostnames: [{ address: 1.2.3.4 }] } }'), `${CACHE}.preresolveHostnames[0].address`, 'is not a host name'],
    [glooGateway('{ dnsCacheConfig: { preresolveHostnames: [{ address: a.test, resolverName: x }] } }'), `${CACHE}.preresolveHostnames[0].resolverName`, 'cannot be translated'],
    [glooGateway('{ dnsCacheConfig: { caresDns: { resolvers: [{ socketAddress: { address: dns.google } }] } } }'), `${CACHE}.caresDns.resolvers[0].socketAddress`, 'must be an IP address, not a name'],
    [glooGateway('{ dnsCacheConfig: { caresDns: { resolvers: [] } } }'), `${CACHE}.caresDns.resolvers`, 'needs at least one resolver'],
    [glooGateway('{ dnsCacheConfig: { caresDns: { resolvers: [{ pipe: { path: /dns } }] } } }'), `${CACHE}.caresDns.resolvers[0].pipe`, 'cannot be translated'],
    [glooGateway('{ dnsCacheConfig: { caresDns: { resolvers: [{ socketAddress: { address: 10.0.0.1 } }], dnsResolverOptions: { useTcpForDnsLookups: true } } } }'), `${CACHE}.caresDns.dnsResolverOptions.useTcpForDnsLookups`, 'cannot be translated'],
    [glooGateway('{ dnsCacheConfig: { caresDns: { resolvers: [{ socketAddress: { address: 10.0.0.1 } }], dnsResolverOptions: { noDefaultSearchDomain: false } } } }'), `${CACHE}.caresDns.dnsResolverOptions.noDefaultSearchDomain`, 'never appends search domains'],
    [glooGateway('{ sslConfig: { sni: x } }'), `${FILTER}.sslConfig`, 'cannot be translated'],
    [glooGateway('{ circuitBreakers: { maxConnections: 40000 } }'), `${FILTER}.circuitBreakers`, 'cannot be translated'],
    [glooGateway('{}', '  ssl: true\n'), 'Gateway/gateway-proxy.spec.ssl', 'cannot be translated'],
    [glooGateway('{}', '  useProxyProto: true\n'), 'Gateway/gateway-proxy.spec.useProxyProto', 'cannot be translated'],
    [glooGateway('{}', '  bindPort: 0\n'), 'Gateway/gateway-proxy.spec.bindPort', 'must be between 1 and 65535'],
    [glooGateway('{}', '  options: {}\n'), 'Gateway/gateway-proxy.spec.options', 'cannot be translated'],
    [glooGateway('{}', '  tcpGateway: {}\n'), 'Gateway/gateway-proxy.spec.tcpGateway', 'cannot be translated'],
    [glooGateway('{}').replace('    options:', '    virtualServiceSelector: { a: b }\n    options:'), 'Gateway/gateway-proxy.spec.httpGateway.virtualServiceSelector', 'cannot be translated'],
    [glooGateway('{}').replace('      dynamicForwardProxy: {}', '      grpcWeb: {}'), 'Gateway/gateway-proxy.spec.httpGateway.options.grpcWeb', 'cannot be translated'],
    [glooGateway('{}').split('---\n')[0]!, 'k8s.yaml', 'the manifests define no routes'],
  ])('rejects what cannot be translated, by name (%#)', (text, path, reason) => {
    const err = rejection(text);
    expect(err.path).toBe(path);
    expect(err.reason).toContain(reason);
  });
});

/** A Gateway API Gateway in kgateway-system with `listeners` (YAML flow text). */
function gateway(listeners: string, extra = ''): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: http, namespace: kgateway-system }
spec:
  gatewayClassName: kgateway
  listeners: ${listeners}
${extra}---
`;
}

const ALL = "[{ protocol: HTTP, port: 8080, name: http, allowedRoutes: { namespaces: { from: All } } }]";
const SAME = '[{ protocol: HTTP, port: 8080, name: http }]';
const RULES = '  rules: [{ backendRefs: [{ kind: Backend, name: dfp-backend }] }]\n';

describe('Gateway API Gateway: accepted; a route naming it must be one it admits', () => {
  it.each([
    ['a listener admitting All namespaces', gateway(ALL), 'httpbin', '  parentRefs: [{ name: http, namespace: kgateway-system }]\n'],
    ['from: Same (the default) and a route in its namespace', gateway(SAME), 'kgateway-system', '  parentRefs: [{ name: http }]\n'],
    ['sectionName and port of an admitting listener', gateway(ALL), 'httpbin', '  parentRefs: [{ name: http, namespace: kgateway-system, sectionName: http, port: 8080 }]\n'],
    ['a parentRef to a Gateway not in the file', gateway(SAME), 'httpbin', '  parentRefs: [{ name: other, namespace: kgateway-system }]\n'],
  ])('%s', (_title, gw, namespace, parentRefs) => {
    const backend = KGATEWAY_BACKEND.replace('namespace: httpbin', `namespace: ${namespace}`);
    const c = translate(gw + backend + '---\n' + route(parentRefs + RULES, 'r', namespace));
    expect(c.routes).toHaveLength(1);
    expect(c.listeners).toEqual(defaultConfig().listeners);
  });

  const GW = 'Gateway/http.spec';
  it.each([
    [gateway(SAME) + KGATEWAY_BACKEND + '---\n' + route('  parentRefs: [{ name: http, namespace: kgateway-system }]\n' + RULES), 'HTTPRoute/r.spec.parentRefs[0]', 'no listener of Gateway kgateway-system/http admits routes from namespace httpbin'],
    [gateway(ALL) + KGATEWAY_BACKEND + '---\n' + route('  parentRefs: [{ name: http, namespace: kgateway-system, sectionName: https }]\n' + RULES), 'HTTPRoute/r.spec.parentRefs[0].sectionName', 'has no listener "https"'],
    [gateway(ALL) + KGATEWAY_BACKEND + '---\n' + route('  parentRefs: [{ name: http, namespace: kgateway-system, port: 80 }]\n' + RULES), 'HTTPRoute/r.spec.parentRefs[0]', 'no listener of Gateway kgateway-system/http admits'],
    [gateway('[{ protocol: HTTPS, port: 443, name: https }]'), `${GW}.listeners[0].protocol`, 'only HTTP listeners can be translated, not "HTTPS"'],
    [gateway('[{ protocol: HTTP, port: 8080, name: http, hostname: a.test }]'), `${GW}.listeners[0].hostname`, 'cannot be translated'],
    [gateway('[{ protocol: HTTP, port: 0, name: http }]'), `${GW}.listeners[0].port`, 'must be between 1 and 65535'],
    [gateway('[{ protocol: HTTP, port: 8080, name: http, allowedRoutes: { namespaces: { from: Selector } } }]'), `${GW}.listeners[0].allowedRoutes.namespaces.from`, 'only All or Same can be translated, not "Selector"'],
    [gateway(ALL, '  addresses: [{ value: 10.0.0.1 }]\n'), `${GW}.addresses`, 'cannot be translated'],
  ])('rejects by name (%#)', (text, path, reason) => {
    const err = rejection(text);
    expect(err.path).toBe(path);
    expect(err.reason).toContain(reason);
  });
});
