// deploy/: the ExecutorPlugin, the ConfigMap Argo builds from it, the DaemonSet. No Kubernetes cluster
// or Argo controller was available to apply them (deploy/README.md); these checks are what can be done
// offline: Argo's own rules for a plugin sidecar (pkg/plugins/spec), the Kubernetes Container schema
// embedded in Argo's executor-plugin spec, the ConfigMap as `argo executor-plugin build` makes it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { repoRoot } from '../cli/helpers.js';

const read = (file: string): string => readFileSync(join(repoRoot, 'deploy', file), 'utf8');
const spec = parse(readFileSync(join(repoRoot, 'src/gateway/executor-plugin-swagger.yml'), 'utf8')) as { definitions: Record<string, { properties?: Record<string, unknown> }> };

type Container = { name: string; ports?: unknown[]; resources?: { requests?: object; limits?: object }; securityContext?: Record<string, unknown>; args?: string[]; command?: string[]; [k: string]: unknown };
interface Plugin {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: { sidecar: { automountServiceAccountToken?: boolean; container: Container } };
}

/** Argo's Sidecar.Validate, as the controller applies it. */
function sidecarProblems(c: Container): string[] {
  const problems: string[] = [];
  if (!c.ports || c.ports.length < 1) problems.push('at least one port is mandatory');
  if (!c.resources?.requests) problems.push('resources requests are mandatory');
  if (!c.resources?.limits) problems.push('resources limits are mandatory');
  if (!c.securityContext) problems.push('security context is mandatory');
  return problems;
}

/** Kubernetes' Container schema as Argo's spec embeds it. Quantity and IntOrString are strings or numbers on the wire. */
function containerValidator(): ((v: unknown) => boolean) & { errors?: unknown } {
  const definitions = { ...spec.definitions, Quantity: { type: ['string', 'number'] }, IntOrString: { type: ['string', 'integer'] } };
  return new Ajv.default({ strict: false, validateFormats: false, allErrors: true }).compile({ definitions, $ref: '#/definitions/Container' });
}

/** Fields the spec does not know, at the container's top level (Argo reads the ConfigMap with UnmarshalStrict). */
function unknownFields(c: Container): string[] {
  const known = Object.keys(spec.definitions.Container!.properties ?? {});
  return Object.keys(c).filter((k) => !known.includes(k));
}

describe('deploy/: the executor plugin', () => {
  const plugin = parse(read('ww-executor-plugin.yaml')) as Plugin;
  const container = plugin.spec.sidecar.container;

  it('is an ExecutorPlugin whose sidecar passes Argo\'s checks', () => {
    assert.equal(plugin.kind, 'ExecutorPlugin');
    assert.equal(plugin.apiVersion, 'argoproj.io/v1alpha1');
    assert.deepEqual(sidecarProblems(container), []);
    // The checks can fail: a container without them is refused.
    assert.deepEqual(sidecarProblems({ name: 'x' }), ['at least one port is mandatory', 'resources requests are mandatory', 'resources limits are mandatory', 'security context is mandatory']);
  });

  it('its container is a Kubernetes Container with no field unknown to the spec', () => {
    const valid = containerValidator();
    assert.ok(valid(container), JSON.stringify(valid.errors));
    assert.deepEqual(unknownFields(container), []);
    assert.equal(valid({ ...container, ports: [{ containerPort: 'http' }] }), false);
    assert.deepEqual(unknownFields({ ...container, sidecar: true }), ['sidecar']);
  });

  it('runs ww gateway on the port it declares, with the token Argo writes, as a non-root user', () => {
    const script = container.args!.join('\n');
    const gatewayLine = script.split('\n').find((l) => /\bww gateway\b/.test(l))!;
    assert.match(gatewayLine, /--listen 127\.0\.0\.1:(\d+)/);
    const port = Number(/--listen 127\.0\.0\.1:(\d+)/.exec(gatewayLine)![1]);
    assert.deepEqual(container.ports, [{ containerPort: port }]);
    assert.match(gatewayLine, /--token-file \/var\/run\/argo\/token/);
    for (const flag of gatewayLine.match(/--[a-z-]+/g)!) assert.ok(['--listen', '--token-file', '--socket', '--data-dir', '--json'].includes(flag), flag);
    assert.equal(container.securityContext!.runAsNonRoot, true);
    assert.equal(container.securityContext!.allowPrivilegeEscalation, false);
  });

  it('the committed ConfigMap is what `argo executor-plugin build` makes of it', () => {
    const cm = parse(read('ww-executor-plugin-configmap.yaml')) as { apiVersion: string; kind: string; metadata: Plugin['metadata']; data: Record<string, string> };
    assert.equal(cm.apiVersion, 'v1');
    assert.equal(cm.kind, 'ConfigMap');
    assert.equal(cm.metadata.name, `${plugin.metadata.name}-executor-plugin`);
    assert.equal(cm.metadata.labels?.['workflows.argoproj.io/configmap-type'], 'ExecutorPlugin');
    assert.deepEqual(cm.metadata.annotations, plugin.metadata.annotations);
    assert.deepEqual(Object.keys(cm.data).sort(), ['sidecar.automountServiceAccountToken', 'sidecar.container']);
    assert.equal(cm.data['sidecar.automountServiceAccountToken'], String(plugin.spec.sidecar.automountServiceAccountToken ?? false));
    assert.deepEqual(parse(cm.data['sidecar.container']!), container);
  });
});

describe('deploy/: the ww peers', () => {
  const docs = parseAllDocuments(read('ww-daemonset.yaml')).map((d) => d.toJS() as { kind: string; metadata: { name: string }; data?: Record<string, string>; spec?: any });

  it('a DaemonSet of `ww start` peers whose selector, ports, resources and volumes hold together', () => {
    const ds = docs.find((d) => d.kind === 'DaemonSet')!;
    assert.ok(ds, 'a DaemonSet');
    assert.deepEqual(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels);
    const pod = ds.spec.template.spec;
    const ww = pod.containers[0] as Container & { volumeMounts: { name: string }[] };
    assert.equal(ww.args![0], 'start');
    for (const flag of ['--swarm-key', '--data-dir', '--p2p', '--join']) assert.ok(ww.args!.includes(flag), flag);
    const valid = containerValidator();
    assert.ok(valid(ww), JSON.stringify(valid.errors));
    assert.deepEqual(unknownFields(ww), []);
    assert.ok(ww.resources?.requests && ww.resources.limits && ww.securityContext);
    const volumes = new Set((pod.volumes as { name: string }[]).map((v) => v.name));
    for (const m of ww.volumeMounts) assert.ok(volumes.has(m.name), `volume ${m.name}`);
    const p2p = /\/tcp\/(\d+)$/.exec(ww.args![ww.args!.indexOf('--p2p') + 1]!)![1];
    assert.equal((ww.ports as { containerPort: number }[])[0]!.containerPort, Number(p2p));
  });

  it('the ConfigMap both manifests read the join address from', () => {
    const cluster = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'ww-cluster')!;
    assert.match(cluster.data!.join!, /\/p2p\/12D3KooW/);
    assert.match(read('ww-executor-plugin.yaml'), /name: ww-cluster/);
  });
});
