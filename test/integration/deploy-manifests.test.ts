import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { settingNames } from '#platform';

const REPO = resolve(fileURLToPath(import.meta.url), '../../../..');

interface K8sObject {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  containers: { args?: string[]; readinessProbe?: { httpGet?: { path: string } } }[];
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ ok: boolean; output: string }> {
  return new Promise((r) =>
    execFile(command, args, { cwd: REPO, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      r({ ok: !error, output: `${stdout}${stderr}` }),
    ),
  );
}
const installed = async (command: string) => (await run('sh', ['-c', `command -v ${command}`])).ok;

async function k8sObjects(): Promise<K8sObject[]> {
  const dir = join(REPO, 'deploy/k8s');
  const objects: K8sObject[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
    for (const doc of parseAllDocuments(await readFile(join(dir, file), 'utf8'))) {
      assert.deepEqual(doc.errors, [], file);
      objects.push(doc.toJS() as K8sObject);
    }
  }
  return objects;
}

/** deploy/: the NATS configurations pass nats-server's own check, the manifests say what the docs promise. */
describe('deploy/: NATS cluster and Kubernetes manifests', () => {
  it('has NATS configurations that nats-server accepts (single, cluster member, and the Kubernetes one)', async (t) => {
    if (!(await installed('nats-server'))) return t.skip('nats-server is not installed');
    for (const [file, env] of [
      ['deploy/nats/nats.conf', {}],
      ['deploy/nats-cluster/nats.conf', { SERVER_NAME: 'nats-1' }],
    ] as const) {
      const result = await run('nats-server', ['-t', '-c', file], env);
      assert.ok(result.ok, `${file}: ${result.output}`);
    }
    const configMap = (await k8sObjects()).find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name === 'nats-config',
    );
    const dir = await mkdtemp(join(tmpdir(), 'nats-conf-'));
    try {
      await writeFile(join(dir, 'nats.conf'), configMap?.data?.['nats.conf'] ?? '');
      const result = await run('nats-server', ['-t', '-c', join(dir, 'nats.conf')], { POD_NAME: 'nats-0' });
      assert.ok(result.ok, result.output);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('composes the three-server cluster override with docker-compose config', async (t) => {
    if (!(await installed('docker-compose')))
      return t.skip('docker-compose is not installed (.ci/run installs it)');
    const files = ['-f', 'docker-compose.yml', '-f', 'deploy/nats-cluster/docker-compose.cluster.yml'];
    const result = await run('docker-compose', [...files, 'config']);
    assert.ok(result.ok, result.output);
    assert.match(result.output, /NATS_URL: nats:\/\/nats-1:4222,nats:\/\/nats-2:4222,nats:\/\/nats-3:4222/);
    assert.match(result.output, /STREAM_REPLICAS: '3'/);
  });

  it('runs three NATS servers and replicates streams three times', async () => {
    const objects = await k8sObjects();
    const nats = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'nats');
    assert.equal(nats?.spec?.['replicas'], 3);
    const settings = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'guardkit-settings');
    assert.equal(settings?.data?.['STREAM_REPLICAS'], '3');
  });

  it('gives the services every setting, readiness from /readyz, graceful termination, and scaled-out gateways', async () => {
    const objects = await k8sObjects();
    const settings = objects.find((o) => o.metadata.name === 'guardkit-settings')?.data ?? {};
    const secret = objects.find((o) => o.kind === 'Secret')?.stringData ?? {};
    const missing = settingNames().filter((name) => !(name in settings) && !(name in secret));
    assert.deepEqual(missing, []);

    const deployments = objects.filter((o) => o.kind === 'Deployment');
    assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), ['gateway', 'ingestor', 'orchestrator']);
    for (const deployment of deployments) {
      const pod = (deployment.spec?.['template'] as { spec: PodSpec }).spec;
      const [container] = pod.containers;
      assert.equal(container?.readinessProbe?.httpGet?.path, '/readyz', deployment.metadata.name);
      assert.ok((pod.terminationGracePeriodSeconds ?? 0) >= 30, deployment.metadata.name);
      await access(join(REPO, container?.args?.[1] ?? 'missing')); // the entry the image runs exists
    }
    const gateway = deployments.find((d) => d.metadata.name === 'gateway');
    assert.ok(Number(gateway?.spec?.['replicas']) >= 2);
    assert.ok(objects.some((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'gateway'));
  });
});
