import { describe, expect, it } from 'vitest';
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
    ['apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: gw }\nspec: {}\n', 'Gateway/gw', 'kind Gateway cannot be translated'],
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
