/**
 * deploy/: the Dockerfile and the Kubernetes manifests, checked without a cluster or an image
 * builder (neither can be had on the development machines):
 *  - every manifest against the Kubernetes API schemas (kubernetes-models' validators), plus
 *    unknown fields (kubectl's strict field validation), read from the models' type declarations;
 *  - agreement with the code: the ConfigMap's config loads through dfp's own loader, the container
 *    args parse with dfp's own flag parser, the ports and probe paths are the ones dfp serves;
 *  - the Dockerfile: its entry point is package.json's bin, it runs as a non-root UID, and no dev
 *    dependency reaches the runtime stage.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { BlockList, isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IService } from 'kubernetes-models/v1/Service';
import { parseArgs, parseCommand } from '../../src/cli/args.js';
import type { Config } from '../../src/config/types.js';
import { startAdmin } from '../../src/observability/admin.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const K8S_DIR = join(ROOT, 'deploy', 'kubernetes');
const NAMESPACE = 'dfp';

// Every flag of the container's args goes through dfp's own parser (--watch included).
const forCli = (args: readonly string[]): string[] => [...args];

const scratch = mkdtempSync(join(tmpdir(), 'dfp-deploy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// ---------------------------------------------------------------- the manifests

interface Doc {
  /** "20-deployment.yaml#0 Deployment/dfp", for messages. */
  where: string;
  file: string;
  obj: Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
}

function loadManifests(): Doc[] {
  const docs: Doc[] = [];
  for (const file of readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    // YAML 1.1, as kubectl reads it (an unquoted yes/on is a boolean there, and a schema error here).
    parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8'), { version: '1.1' }).forEach((d, i) => {
      if (d.errors.length > 0) throw new Error(`${file}#${i}: ${d.errors.map((e) => e.message).join('; ')}`);
      const obj = d.toJS() as Doc['obj'] | null;
      if (obj === null) return;
      docs.push({ where: `${file}#${i} ${obj.kind}/${obj.metadata?.name}`, file, obj });
    });
  }
  return docs;
}

const docs = loadManifests();

function one<T>(kind: string): T {
  const found = docs.filter((d) => d.obj.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind} in deploy/kubernetes/, found ${found.length}`);
  return found[0]!.obj as unknown as T;
}

const deployment = one<IDeployment>('Deployment');
const configMap = one<IConfigMap>('ConfigMap');
const service = one<IService>('Service');
const hpa = one<IHorizontalPodAutoscaler>('HorizontalPodAutoscaler');
const pdb = one<IPodDisruptionBudget>('PodDisruptionBudget');
const netpol = one<INetworkPolicy>('NetworkPolicy');
const podSpec = deployment.spec!.template.spec!;
const podLabels = deployment.spec!.template.metadata!.labels!;
const container: IContainer = podSpec.containers[0]!;

/** A container port by name (or number), as probes, Services and NetworkPolicies name them. */
function containerPort(port: string | number | undefined): number {
  if (typeof port === 'number') return port;
  const p = (container.ports ?? []).find((x) => x.name === port);
  if (p === undefined) throw new Error(`no container port named ${String(port)}`);
  return p.containerPort;
}

// ---------------------------------------------------------------- schema validation

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: unknown) => Validatable;

/** kubernetes-models' class for apiVersion + kind: `kubernetes-models/apps/v1/Deployment`. */
async function modelFor(apiVersion: string, kind: string): Promise<ModelClass> {
  const mod = (await import(/* @vite-ignore */ `kubernetes-models/${apiVersion}/${kind}`)) as Record<string, unknown>;
  const cls = mod[kind];
  if (typeof cls !== 'function') throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  return cls as ModelClass;
}

/**
 * Unknown fields: the models' JSON schemas leave additionalProperties open, so a misspelt
 * `readinesProbe` would pass them; kubectl (strict field validation) refuses it. The field names
 * come from the same generated models, their type declarations (`"name"?: Type;` one per line).
 */
type FieldType = { t: 'leaf' } | { t: 'ref'; file: string } | { t: 'array'; of: FieldType } | { t: 'map'; of: FieldType };

const shapes = new Map<string, Map<string, FieldType> | null>();

function shapeOf(file: string): Map<string, FieldType> | null {
  const cached = shapes.get(file);
  if (cached !== undefined) return cached;
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const req = createRequire(file);
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const spec = m[2]!;
    let target: string;
    if (spec.startsWith('.')) {
      target = join(dirname(file), `${spec}.d.ts`);
    } else {
      const parts = spec.split('/');
      const pkg = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
      target = join(dirname(req.resolve(`${pkg}/package.json`)), `${spec.slice(pkg.length + 1)}.d.ts`);
    }
    imports.set(m[1]!, target);
  }
  const body = /^export interface I\w+(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}$/m.exec(text);
  if (body === null) {
    // A type alias (IntOrString, Quantity, Time): a leaf. Anything else is a surprise.
    if (!/^export declare type I\w+ = /m.test(text)) throw new Error(`${file}: neither an interface nor a type alias`);
    shapes.set(file, null);
    return null;
  }
  const typeOf = (expr: string): FieldType => {
    const arr = /^Array<(.+)>$/.exec(expr);
    if (arr) return { t: 'array', of: typeOf(arr[1]!) };
    const ref = imports.get(expr);
    return ref !== undefined ? { t: 'ref', file: ref } : { t: 'leaf' };
  };
  const fields = new Map<string, FieldType>();
  const lines = body[1]!.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^ {4}"([^"]+)"\??: (.*)$/.exec(lines[i]!);
    if (m === null) continue;
    if (m[2] === '{') {
      const value = /^ {8}\[key: string\]: (.+);$/.exec(lines[i + 1] ?? '');
      if (value === null) throw new Error(`${file}: field ${m[1]}: unexpected object type`);
      fields.set(m[1]!, { t: 'map', of: typeOf(value[1]!) });
    } else {
      fields.set(m[1]!, typeOf(m[2]!.replace(/;$/, '')));
    }
  }
  if (fields.size === 0) throw new Error(`${file}: no fields read`);
  shapes.set(file, fields);
  return fields;
}

const MODELS_DIR = dirname(createRequire(import.meta.url).resolve('kubernetes-models/package.json'));

function unknownFields(value: unknown, type: FieldType, path: string, out: string[]): string[] {
  if (type.t === 'leaf' || value === null || typeof value !== 'object') return out;
  if (type.t === 'array') {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, type.of, `${path}/${i}`, out));
    return out;
  }
  if (Array.isArray(value)) return out;
  const entries = Object.entries(value as Record<string, unknown>);
  if (type.t === 'map') {
    for (const [k, v] of entries) unknownFields(v, type.of, `${path}/${k}`, out);
    return out;
  }
  const shape = shapeOf(type.file);
  if (shape === null) return out;
  for (const [k, v] of entries) {
    const field = shape.get(k);
    if (field === undefined) out.push(`${path}/${k}: unknown field`);
    else unknownFields(v, field, `${path}/${k}`, out);
  }
  return out;
}

/** Every problem with one manifest object, as "path: reason" lines; [] = valid. */
async function validateManifest(obj: { apiVersion: string; kind: string }): Promise<string[]> {
  const problems: string[] = [];
  const Model = await modelFor(obj.apiVersion, obj.kind);
  try {
    new Model(obj).validate();
  } catch (err) {
    const errors = (err as { errors?: { instancePath: string; message?: string }[] }).errors;
    if (errors === undefined) throw err;
    for (const e of errors) problems.push(`${e.instancePath || '/'}: ${e.message ?? 'invalid'}`);
  }
  unknownFields(obj, { t: 'ref', file: join(MODELS_DIR, obj.apiVersion, `${obj.kind}.d.ts`) }, '', problems);
  return problems;
}

describe('deploy/kubernetes: the manifests', () => {
  it('one Namespace, ConfigMap, Deployment, Service, HPA, PDB and NetworkPolicy, in namespace dfp, applied namespace first', () => {
    expect(docs.map((d) => d.obj.kind).sort()).toEqual(
      ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Service'].sort(),
    );
    // kubectl apply -f DIR takes the files in name order: the namespace must exist first.
    expect(docs[0]!.obj.kind).toBe('Namespace');
    expect(docs[0]!.obj.metadata.name).toBe(NAMESPACE);
    for (const d of docs.slice(1)) expect(d.obj.metadata.namespace, d.where).toBe(NAMESPACE);
  });

  it.each(docs.map((d) => [d.where, d] as const))('%s matches the Kubernetes API schema, with no unknown field', async (_where, d) => {
    expect(await validateManifest(d.obj)).toEqual([]);
  });

  const broken: [string, (o: IDeployment) => void, string][] = [
    ['replicas: "two"', (o) => void ((o.spec as unknown as Record<string, unknown>)['replicas'] = 'two'), '/spec/replicas: must be integer'],
    [
      'a probe port as an object',
      (o) => void ((o.spec!.template.spec!.containers[0]!.livenessProbe!.httpGet as unknown as Record<string, unknown>)['port'] = { name: 'admin' }),
      '/spec/template/spec/containers/0/livenessProbe/httpGet/port:',
    ],
    ['a container without a name', (o) => void delete (o.spec!.template.spec!.containers[0] as Partial<IContainer>).name, '/spec/template/spec/containers/0: must have required property name'],
    [
      'a misspelt field (readinesProbe)',
      (o) => void ((o.spec!.template.spec!.containers[0] as unknown as Record<string, unknown>)['readinesProbe'] = {}),
      '/spec/template/spec/containers/0/readinesProbe: unknown field',
    ],
    [
      'a misspelt field deep down (capabilities.dorp)',
      (o) => void ((o.spec!.template.spec!.containers[0]!.securityContext!.capabilities as Record<string, unknown>)['dorp'] = ['ALL']),
      '/spec/template/spec/containers/0/securityContext/capabilities/dorp: unknown field',
    ],
    ['a label value that YAML 1.1 reads as a boolean', (o) => void ((o.metadata!.labels as Record<string, unknown>)['on'] = true), '/metadata/labels/on: must be string'],
  ];
  it.each(broken)('the validator rejects a Deployment with %s, naming the path', async (_what, mutate, expected) => {
    const copy = structuredClone(deployment);
    mutate(copy);
    const problems = await validateManifest(copy);
    expect(problems.join('\n')).toContain(expected);
  });

  it('the Deployment: 2 replicas behind a rolling update that keeps them all serving', () => {
    expect(deployment.spec!.replicas).toBe(2);
    expect(deployment.spec!.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    expect(deployment.spec!.selector.matchLabels).toEqual(podLabels);
  });

  it('the pod runs locked down: non-root, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    expect(podSpec.securityContext?.runAsNonRoot).toBe(true);
    expect(podSpec.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
    const sc = container.securityContext!;
    expect(sc.runAsNonRoot).toBe(true);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities?.drop).toEqual(['ALL']);
    expect(sc.capabilities?.add).toBeUndefined();
    expect(sc.seccompProfile?.type).toBe('RuntimeDefault');
    expect(podSpec.automountServiceAccountToken).toBe(false);
    // Pod Security "restricted" is enforced on the namespace this pod spec lives in.
    expect(one<{ metadata: { labels: Record<string, string> } }>('Namespace').metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('the container has CPU and memory requests and limits', () => {
    for (const k of ['requests', 'limits'] as const) {
      expect(container.resources?.[k]?.['cpu'], k).toBeDefined();
      expect(container.resources?.[k]?.['memory'], k).toBeDefined();
    }
  });

  it('the Service, the PDB and the NetworkPolicy select the pods; the HPA scales the Deployment on CPU', () => {
    const selects = (sel: Record<string, string> | undefined) => Object.entries(sel ?? {}).every(([k, v]) => podLabels[k] === v) && Object.keys(sel ?? {}).length > 0;
    expect(selects(service.spec!.selector)).toBe(true);
    expect(selects(pdb.spec!.selector?.matchLabels)).toBe(true);
    expect(selects(netpol.spec!.podSelector.matchLabels)).toBe(true);
    // The PDB must leave room to evict: fewer pods required than run.
    expect(pdb.spec!.minAvailable).toBeLessThan(deployment.spec!.replicas!);
    expect(hpa.spec!.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata!.name });
    expect(hpa.spec!.minReplicas).toBe(deployment.spec!.replicas);
    const cpu = hpa.spec!.metrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
    expect(cpu?.resource?.target.type).toBe('Utilization');
    // Utilization is a share of the request: without one the HPA cannot work.
    expect(container.resources?.requests?.['cpu']).toBeDefined();
  });
});

// ---------------------------------------------------------------- agreement with the code

/** The ConfigMap key the container's --config names, through the volume mount. */
function mountedConfig(): { key: string; text: string; path: string } {
  const flags = parseArgs(forCli(container.args ?? []));
  const path = flags.config;
  if (path === null) throw new Error('the container args give no --config');
  const vol = (podSpec.volumes ?? []).find((v) => v.configMap?.name === configMap.metadata!.name);
  if (vol === undefined) throw new Error(`no volume from ConfigMap ${configMap.metadata!.name}`);
  const mount = (container.volumeMounts ?? []).find((m) => m.name === vol.name);
  if (mount === undefined) throw new Error(`volume ${vol.name} is not mounted`);
  // A directory mount: subPath would freeze the file at pod start and --watch would never see an edit.
  expect(mount.subPath, 'the config mount uses subPath').toBeUndefined();
  expect(dirname(path)).toBe(mount.mountPath);
  const key = path.slice(mount.mountPath.length + 1);
  const text = configMap.data?.[key];
  if (text === undefined) throw new Error(`ConfigMap ${configMap.metadata!.name} has no key ${key}`);
  return { key, text, path };
}

/** The config the pod runs with: the container args, with the ConfigMap's file in a scratch folder. */
function effectiveConfig(args: readonly string[], configText: string): Config {
  const file = join(scratch, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, configText);
  const cliArgs = forCli(args).map((a, i, all) => (all[i - 1] === '--config' ? file : a.startsWith('--config=') ? `--config=${file}` : a));
  const command = parseCommand(cliArgs);
  if (command.kind !== 'run') throw new Error(`the container args make dfp ${command.kind}, not run`);
  return command.config;
}

describe('deploy: agreement with the code', () => {
  it('the container args are flags dfp accepts, and name the ConfigMap file mounted as a directory', () => {
    const args = container.args ?? [];
    expect(container.command).toBeUndefined(); // the image's ENTRYPOINT runs dfp
    expect(args).toContain('--watch'); // ConfigMap edits reach the pod as a symlink swap: --watch reloads them
    const flags = parseArgs(forCli(args));
    expect(flags.command).toBe('run');
    expect(flags.config).toBe('/etc/dfp/config.yaml');
    mountedConfig();
  });

  it('the ConfigMap config passes `dfp check --config FILE`, and is deploy/config.yaml, the image default', () => {
    const { text } = mountedConfig();
    const file = join(scratch, 'check.yaml');
    writeFileSync(file, text);
    const command = parseCommand(['check', '--config', file]);
    expect(command.kind).toBe('check');
    expect(parse(text)).toEqual(parse(readFileSync(join(ROOT, 'deploy', 'config.yaml'), 'utf8')));
    const raw = parse(text) as { limits: { drainTimeout: string }; access: { allowPrivateDestinations: boolean } };
    expect(raw.limits.drainTimeout).toBe('30s');
    expect(raw.access.allowPrivateDestinations).toBe(false);
  });

  it('the pod listens where Kubernetes sends traffic: the container ports are the config listener and admin ports, on every interface', () => {
    const config = effectiveConfig(container.args ?? [], mountedConfig().text);
    expect(config.listeners.map((l) => l.address)).toEqual([{ host: '0.0.0.0', port: containerPort('proxy') }]);
    // The admin must listen on the pod IP: the kubelet probes it there.
    expect(config.admin).toEqual({ host: '0.0.0.0', port: containerPort('admin') });
    expect(config.access.allowPrivateDestinations).toBe(false);
    expect((container.ports ?? []).map((p) => p.containerPort).sort()).toEqual([config.listeners[0]!.address.port, config.admin!.port].sort());
    // The Service carries the proxy port only.
    expect(service.spec!.ports!.map((p) => containerPort(p.targetPort))).toEqual([containerPort('proxy')]);
  });

  it("the probes are dfp's admin routes on the admin port: GET /healthz (live) and /ready (ready) answer 200", async () => {
    expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(container.readinessProbe?.httpGet?.path).toBe('/ready');
    expect(containerPort(container.livenessProbe?.httpGet?.port)).toBe(containerPort('admin'));
    expect(containerPort(container.readinessProbe?.httpGet?.port)).toBe(containerPort('admin'));
    const admin = await startAdmin({ host: '127.0.0.1', port: 0 }, { isDraining: () => false, metrics: () => '', dns: () => [], config: () => '' });
    try {
      const status = (path: string) =>
        new Promise<number>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: admin.address.port, path, agent: false }, (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            })
            .on('error', reject);
        });
      expect(await status(container.livenessProbe!.httpGet!.path!)).toBe(200);
      expect(await status(container.readinessProbe!.httpGet!.path!)).toBe(200);
      expect(await status('/no-such-route')).toBe(404); // so a 200 means the route exists
    } finally {
      await admin.close();
    }
  });

  it('terminationGracePeriodSeconds covers the preStop sleep and limits.drainTimeout', () => {
    const config = effectiveConfig(container.args ?? [], mountedConfig().text);
    const drain = config.limits.drainTimeoutMs / 1000;
    const cmd = container.lifecycle?.preStop?.exec?.command ?? [];
    const preStop = cmd[0] === 'sleep' ? Number(cmd[1]) : 0;
    expect(drain).toBe(30);
    expect(preStop).toBeGreaterThan(0);
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(preStop + drain);
  });

  it('the NetworkPolicy: in, the proxy port from clients and the admin port from monitoring; out, DNS and public 80/443 only', () => {
    const ingress = netpol.spec!.ingress ?? [];
    const proxyIn = ingress.filter((r) => (r.ports ?? []).some((p) => containerPort(p.port) === containerPort('proxy')));
    const adminIn = ingress.filter((r) => (r.ports ?? []).some((p) => containerPort(p.port) === containerPort('admin')));
    expect(proxyIn).toHaveLength(1);
    expect(adminIn).toHaveLength(1);
    for (const r of ingress) {
      expect(r.ports?.length, 'an ingress rule without ports opens every port').toBeGreaterThan(0);
      expect(r.from?.length, 'an ingress rule without from admits everyone').toBeGreaterThan(0);
    }
    expect(adminIn[0]!.ports!.map((p) => containerPort(p.port))).toEqual([containerPort('admin')]);
    expect(adminIn[0]!.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
    expect(netpol.spec!.policyTypes).toEqual(['Ingress', 'Egress']);

    const egress = netpol.spec!.egress ?? [];
    const dns = egress.find((r) => (r.ports ?? []).some((p) => p.port === 53));
    expect(dns?.ports?.map((p) => `${p.port}/${p.protocol}`).sort()).toEqual(['53/TCP', '53/UDP']);
    expect(dns?.to?.[0]?.podSelector?.matchLabels).toEqual({ 'k8s-app': 'kube-dns' });
    const web = egress.filter((r) => r !== dns);
    expect(web).toHaveLength(1);
    expect(web[0]!.ports!.map((p) => `${p.port}/${p.protocol}`).sort()).toEqual(['443/TCP', '80/TCP']);
    // The config's CONNECT ports must be reachable through the policy.
    const config = effectiveConfig(container.args ?? [], mountedConfig().text);
    for (const port of config.access.connectPorts) expect(web[0]!.ports!.map((p) => p.port)).toContain(port);

    const blocks = web[0]!.to!.map((peer) => peer.ipBlock!);
    const allowed = (addr: string): boolean => {
      const family = isIPv6(addr) ? 'ipv6' : 'ipv4';
      return blocks.some((b) => {
        const inList = (cidrs: readonly string[]) => {
          const list = new BlockList();
          for (const c of cidrs) {
            const [net, bits] = c.split('/');
            if (isIPv6(net!) === (family === 'ipv6')) list.addSubnet(net!, Number(bits), family);
          }
          return list.check(addr, family);
        };
        return inList([b.cidr]) && !inList(b.except ?? []);
      });
    };
    for (const addr of ['1.1.1.1', '93.184.215.14', '2606:4700:4700::1111']) expect(allowed(addr), addr).toBe(true);
    for (const addr of ['10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.1', '169.254.169.254', '169.254.170.2', '100.64.0.10', 'fd00:ec2::254', 'fe80::1']) {
      expect(allowed(addr), addr).toBe(false);
    }
  });
});

// ---------------------------------------------------------------- the Dockerfile

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  image: string;
  steps: Instruction[];
}

/** deploy/Dockerfile → stages (line continuations joined, comments dropped, ARG defaults substituted in FROM). */
function readDockerfile(): Stage[] {
  const text = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (m === null) throw new Error(`Dockerfile: cannot read "${line}"`);
    const op = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args.set(k!, v ?? '');
      continue;
    }
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (f === null) throw new Error(`Dockerfile: FROM ${rest}`);
      const image = f[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_s, a?: string, b?: string) => args.get((a ?? b)!) ?? '');
      stages.push({ name: f[2] ?? String(stages.length), image, steps: [] });
      continue;
    }
    if (stages.length === 0) throw new Error(`Dockerfile: ${op} before FROM`);
    stages[stages.length - 1]!.steps.push({ op, args: rest });
  }
  return stages;
}

interface Copy {
  from: string | null;
  sources: string[];
  dest: string;
}
function copies(stage: Stage): Copy[] {
  return stage.steps
    .filter((s) => s.op === 'COPY' || s.op === 'ADD')
    .map((s) => {
      const words = s.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length) ?? null;
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1]! };
    });
}

const stages = readDockerfile();
const runtime = stages[stages.length - 1]!;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const execForm = (stage: Stage, op: string): string[] => {
  const step = stage.steps.filter((s) => s.op === op).pop();
  if (step === undefined) throw new Error(`no ${op} in the ${stage.name} stage`);
  // The exec (JSON) form: node is PID 1 and gets SIGTERM itself (a shell would swallow it).
  return JSON.parse(step.args) as string[];
};
const workdir = (stage: Stage): string => stage.steps.filter((s) => s.op === 'WORKDIR').pop()?.args ?? '/';
const stageNamed = (name: string): Stage => {
  const s = stages.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no stage named ${name}`);
  return s;
};
/** The stage and the path a runtime COPY --from takes `dest` from. */
function copiedInto(dest: string): { stage: Stage; source: string } {
  const c = copies(runtime).find((x) => join(workdir(runtime), x.dest) === join(workdir(runtime), dest));
  if (c === undefined || c.from === null) throw new Error(`the runtime stage copies nothing to ${dest} from another stage`);
  return { stage: stageNamed(c.from), source: c.sources[0]! };
}

describe('deploy/Dockerfile', () => {
  it('is multi-stage on one pinned Node image whose major satisfies engines', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const major = (img: string) => Number(/^node:(\d+)[.\w-]*(?:@sha256:[0-9a-f]{64})?$/.exec(img)?.[1] ?? NaN);
    for (const s of stages) {
      expect(major(s.image), `${s.name}: ${s.image}`).toBeGreaterThanOrEqual(Number(/^>=\s*(\d+)/.exec(pkg.engines.node)![1]));
      expect(s.image).not.toMatch(/:latest$|^node$/);
    }
    expect(new Set(stages.map((s) => s.image)).size).toBe(1);
  });

  it("ENTRYPOINT runs package.json's bin with node; CMD is the Deployment's args", () => {
    expect(execForm(runtime, 'ENTRYPOINT')).toEqual(['node', pkg.bin['dfp']]);
    expect(join(workdir(runtime), pkg.bin['dfp']!)).toBe(join(workdir(runtime), 'dist/cli.js'));
    const cmd = execForm(runtime, 'CMD');
    expect(cmd).toEqual(container.args);
    expect(parseArgs(forCli(cmd)).command).toBe('run');
  });

  it('the runtime stage runs as a non-root numeric UID, the one the Deployment asks for', () => {
    const user = runtime.steps.filter((s) => s.op === 'USER').pop()?.args;
    const m = /^(\d+)(?::(\d+))?$/.exec(user ?? '');
    expect(m, `USER ${user}: numeric, so that runAsNonRoot can check it`).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(podSpec.securityContext?.runAsUser).toBe(Number(m![1]));
    if (m![2] !== undefined) expect(podSpec.securityContext?.runAsGroup).toBe(Number(m![2]));
    // Whatever the runtime stage runs (the OS CA bundle), it runs as root, before USER.
    const userAt = runtime.steps.map((s) => s.op).lastIndexOf('USER');
    runtime.steps.forEach((s, i) => {
      if (s.op === 'RUN') expect(i, `RUN ${s.args} after USER`).toBeLessThan(userAt);
    });
  });

  it('the runtime stage has dist/ (built), node_modules/ (production only) and package.json ("type": "module")', () => {
    const dist = copiedInto('dist');
    expect(dist.stage.steps.some((s) => s.op === 'RUN' && /\bnpm run build\b/.test(s.args))).toBe(true);
    expect(dist.source).toBe(join(workdir(dist.stage), 'dist'));

    // node_modules: from a stage whose last npm step leaves production dependencies only.
    const modules = copiedInto('node_modules');
    const npmSteps = modules.stage.steps.filter((s) => s.op === 'RUN' && /\bnpm (ci|install|i|prune)\b/.test(s.args));
    const last = npmSteps[npmSteps.length - 1]?.args ?? '';
    expect(last, 'the node_modules stage ends with npm ci/prune --omit=dev').toMatch(/\bnpm (ci|prune)\b.*--omit=dev\b/);

    // No package manager runs in the runtime stage: node_modules is copied in whole.
    for (const s of runtime.steps) {
      if (s.op === 'RUN') expect(s.args).not.toMatch(/\b(npm|npx|yarn|pnpm|corepack)\b/);
    }
    expect(runtime.steps.some((s) => s.op === 'RUN' && /\bapt-get install\b.*\bca-certificates\b/.test(s.args)), 'the OS CA bundle for upstream.tls.ca: system').toBe(true);

    const pj = copiedInto('package.json');
    expect(pj.source).toMatch(/package\.json$/);
    expect((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { type: string }).type).toBe('module');
  });

  it('--omit=dev leaves out every dev dependency, and --ignore-scripts skips no runtime install script', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean; hasInstallScript?: boolean }>;
    };
    for (const name of Object.keys(pkg.devDependencies)) {
      const entry = lock.packages[`node_modules/${name}`];
      expect(entry, `package-lock.json has ${name}`).toBeDefined();
      expect(entry!.dev, `${name} is also a runtime dependency`).toBe(true);
    }
    // npm ci runs "prepare" (a build) unless told not to, before the sources are copied in.
    for (const s of stages) {
      for (const x of s.steps.filter((x) => x.op === 'RUN' && /\bnpm ci\b/.test(x.args))) expect(x.args).toMatch(/--ignore-scripts\b/);
    }
    const runtimeWithScripts = Object.entries(lock.packages).filter(([path, e]) => path !== '' && e.hasInstallScript === true && e.dev !== true);
    expect(runtimeWithScripts.map(([p]) => p)).toEqual([]);
  });

  it('EXPOSE lists the config listener and admin ports; the image default config is the CMD --config path', () => {
    const exposed = runtime.steps
      .filter((s) => s.op === 'EXPOSE')
      .flatMap((s) => s.args.split(/\s+/))
      .map((p) => Number(p.replace(/\/tcp$/, '')));
    const config = effectiveConfig(container.args ?? [], readFileSync(join(ROOT, 'deploy', 'config.yaml'), 'utf8'));
    expect(exposed.sort()).toEqual([config.listeners[0]!.address.port, config.admin!.port].sort());
    const def = copies(runtime).find((c) => c.from === null && c.sources.includes('deploy/config.yaml'));
    expect(def?.dest).toBe(parseArgs(forCli(execForm(runtime, 'CMD'))).config);
  });

  it('the build context (.dockerignore) holds what the Dockerfile copies and what tsconfig.json builds, and no more', () => {
    const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length > 0 && !l.startsWith('#'));
    // Docker's rules, the subset used here: the last matching pattern wins, `!` re-includes, a
    // pattern matching a folder matches what is in it, `*` is one path segment.
    const ignored = (path: string): boolean => {
      let result = false;
      for (const raw of patterns) {
        const negate = raw.startsWith('!');
        const pattern = (negate ? raw.slice(1) : raw).replace(/^\/|\/$/g, '');
        const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}(/.*)?$`);
        if (re.test(path)) result = !negate;
      }
      return result;
    };
    const fromContext = stages.flatMap((s) => copies(s).filter((c) => c.from === null).flatMap((c) => c.sources));
    for (const src of fromContext) expect(ignored(src), `${src} is copied but .dockerignore leaves it out`).toBe(false);
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[]; extends?: string };
    expect(tsconfig.extends).toBeUndefined();
    for (const inc of ['tsconfig.json', ...tsconfig.include]) {
      expect(fromContext, `the build needs ${inc}`).toContain(inc);
      expect(ignored(inc)).toBe(false);
    }
    for (const out of ['node_modules', 'dist', '.git', 'test', 'bench', 'fuzz', 'deploy/kubernetes']) expect(ignored(out), out).toBe(true);
  });

  it("the Deployment's image is this package's version", () => {
    expect(container.image).toBe(`dfp:${pkg.version}`);
  });
});
