import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { VERSION } from '../../core/version';
import { invalidParameter } from '../../core/errors';
import type { Store } from '../../core/store';
import { clustersFromSettings, resolveCluster, type ClusterConfig, type ClusterFlags } from '../../services/deploy/cluster-config';
import type { DeployOutcome } from '../../services/deploy/deploy';
import type { PushProgress } from '../../services/deploy/model-image';
import { parseDuration } from '../../services/loadtest/parse';
import type { GlobalOptions } from '../connect';
import { print, table, time } from '../format';
import { wholeNumber } from '../flags';

const DOCKER_HOST_HELP = 'Docker engine that builds and pushes the image; default DOCKER_HOST, then /var/run/docker.sock';

interface ClusterOptions {
  cluster?: string;
  context?: string;
  namespace?: string;
  kubeconfig?: string;
  registry?: string;
  pullSecret?: string;
  json?: boolean;
}

interface DeployOptions extends ClusterOptions {
  dryRun?: boolean;
  canary?: string;
  replicas?: string;
  gpus?: string;
  timeout: string;
  rollbackOnFailure?: boolean;
  dockerHost?: string;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

function clusterOptions(cmd: Command): Command {
  return cmd
    // Not requiredOption: commander checks a parent's required options for its subcommands too.
    .option('--cluster <name>', 'a cluster of the trellis.clusters setting (.vscode/settings.json), or a new name with --registry (required)')
    .option('--context <name>', 'kubeconfig context (default: the setting\'s, then the current context)')
    .option('--namespace <ns>', 'namespace (default: the setting\'s, then default)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: the setting\'s, then KUBECONFIG, then ~/.kube/config)')
    .option('--registry <host/path>', 'registry the image is pushed to and the cluster pulls from')
    .option('--pull-secret <name>', 'image pull Secret in the namespace, for a private registry')
    .option('--json', 'print the result as JSON');
}

function clusterFrom(opts: ClusterOptions, extra: ClusterFlags = {}): ClusterConfig {
  if (!opts.cluster) throw invalidParameter('--cluster is required: name a cluster of the trellis.clusters setting (or a new one with --registry).');
  const flags: ClusterFlags = { ...extra };
  for (const key of ['context', 'namespace', 'kubeconfig', 'registry', 'pullSecret'] as const) if (opts[key]) flags[key] = opts[key];
  return resolveCluster(clustersFromSettings(process.cwd()), opts.cluster, flags);
}

/** The deploy machinery (store, Docker, Kubernetes), loaded when a deploy command runs, not at the CLI's start (see esbuild.mjs). */
const deployService = () => import('../../services/deploy/deploy.js');

async function withStore<T>(globals: () => GlobalOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const { openStore } = await import('../../core/store.js');
  const store = openStore(resolve(globals().dataDir));
  return fn(store).finally(() => store.close());
}

function timeoutOf(text: string): number {
  const ms = parseDuration(text);
  if (ms < 1000) throw invalidParameter(`--timeout must be at least 1s, got '${text}'.`);
  return ms;
}

export function deployCommand(program: Command, globals: () => GlobalOptions): void {
  const deploy = clusterOptions(
    program
      .command('deploy')
      .description('Deploy a registered model version to a Kubernetes cluster: manifests into deploy/<cluster>/<model>/, image pushed, applied, rollout watched')
      .argument('[ref]', 'NAME@ALIAS or NAME/VERSION')
      // Options after status/promote/rollback are theirs, not deploy's.
      .enablePositionalOptions(),
  )
    .option('--dry-run', 'only write the manifests (no image, no cluster)')
    .option('--canary <percent>', 'run the version as a canary next to the stable one, with about this share of requests')
    .option('--replicas <n>', 'replicas (default: the setting\'s, then 1)')
    .option('--gpus <n>', 'nvidia.com/gpu per replica (default: the setting\'s gpusPerReplica, then 0)')
    .option('--timeout <duration>', 'how long to wait for the rollout, e.g. 90s, 5m', '5m')
    .option('--rollback-on-failure', 'undo the change when the rollout fails or times out')
    .option('--docker-host <host>', DOCKER_HOST_HELP, process.env.TRELLIS_DOCKER_HOST)
    .addHelpText('after', '\nAlso: trellis deploy status|promote|rollback MODEL --cluster C')
    .action(async (ref: string | undefined, opts: DeployOptions) => {
      if (!ref) throw invalidParameter('trellis deploy needs a model version: NAME@ALIAS or NAME/VERSION (or a subcommand: status, promote, rollback).');
      if (!/[@/]/.test(ref)) throw invalidParameter(`Deploy a definite version: NAME@ALIAS or NAME/VERSION, got '${ref}'.`);
      const cluster = clusterFrom(opts, {
        ...(opts.replicas !== undefined ? { replicas: wholeNumber('--replicas', opts.replicas, 1, 1000) } : {}),
        ...(opts.gpus !== undefined ? { gpus: wholeNumber('--gpus', opts.gpus, 0, 16) } : {}),
      });
      const canaryPercent = opts.canary === undefined ? undefined : wholeNumber('--canary', opts.canary.replace(/%$/, ''), 1, 99);
      const timeoutMs = timeoutOf(opts.timeout);
      const [{ deployModel }, { resolveModelRef }, { connectDocker }, { ensureServingImage }] = await Promise.all([
        deployService(),
        import('../../services/serving/model-resolver.js'),
        import('../../engines/docker/connection.js'),
        import('../../services/containers/serving-image.js'),
      ]);
      const outcome = await withStore(globals, async (store) => {
        const model = resolveModelRef(store, ref);
        log(`${model.name} version ${model.version} → cluster ${cluster.name} (namespace ${cluster.namespace})${opts.dryRun ? ', dry run' : ''}`);
        return deployModel(
          { store, workspace: process.cwd(), cluster, onLine: log },
          {
            model: { name: model.name, version: model.version, path: model.path },
            replicas: cluster.replicas,
            ...(canaryPercent !== undefined ? { canaryPercent } : {}),
            timeoutMs,
            rollbackOnFailure: Boolean(opts.rollbackOnFailure),
            dryRun: Boolean(opts.dryRun),
            docker: () => connectDocker({ host: opts.dockerHost || undefined }),
            // The bundle runs from dist/: the project (dist/, node_modules/) is the folder above it.
            baseImage: async (docker) => (await ensureServingImage(docker, { projectRoot: join(__dirname, '..'), version: VERSION, onStatus: log })).image,
            onBuild: (e) => log(e.type === 'step' ? `Step ${e.step}/${e.total} : ${e.instruction}` : `  ${e.text}`),
            onPush: pushPrinter(),
          },
        );
      });
      report(outcome, Boolean(opts.json));
    });

  clusterOptions(deploy.command('status').description('Versions on the cluster, their rollout and recent deployments').argument('[model]', 'only this model'))
    .action(async (model: string | undefined, opts: ClusterOptions) => {
      const cluster = clusterFrom(opts);
      const [{ clusterStatus }, { listDeployments }] = await Promise.all([deployService(), import('../../services/deploy/record.js')]);
      const versions = await clusterStatus({ cluster }, model);
      const history = await withStore(globals, async (store) => listDeployments(store, { cluster: cluster.name, ...(model ? { model } : {}), max: 10 }));
      print({ cluster: cluster.name, namespace: cluster.namespace, versions, history }, Boolean(opts.json), () =>
        [
          table(['MODEL', 'VERSION', 'TRACK', 'READY', 'STATE', 'IMAGE'], versions.map((v) => [v.model, v.version, v.track, `${v.decision.ready}/${v.decision.desired}`, v.decision.state, v.image])),
          ...versions.filter((v) => v.decision.state === 'failed').map((v) => `\n${v.deployment}: ${v.decision.message}${v.decision.state === 'failed' ? `\n  what to do: ${v.decision.fix}` : ''}`),
          '',
          'recent deployments:',
          table(['TIME', 'ACTION', 'MODEL', 'VERSION', 'RESULT'], history.map((h) => [time(h.endedAt), h.action, h.model, h.version, h.result])),
        ].join('\n'),
      );
    });

  clusterOptions(deploy.command('promote').description('Make the canary the stable version (the old stable one is removed once it is ready)').argument('<model>', 'model name'))
    .option('--timeout <duration>', 'how long to wait for the rollout', '5m')
    .action(async (model: string, opts: ClusterOptions & { timeout: string }) => {
      const cluster = clusterFrom(opts);
      const { promote } = await deployService();
      const outcome = await withStore(globals, (store) => promote({ store, workspace: process.cwd(), cluster, onLine: log }, model, { timeoutMs: timeoutOf(opts.timeout) }));
      report(outcome, Boolean(opts.json));
    });

  clusterOptions(deploy.command('rollback').description('Remove the canary; without one, go back to the version deployed before the stable one').argument('<model>', 'model name'))
    .option('--timeout <duration>', 'how long to wait for the rollout', '5m')
    .action(async (model: string, opts: ClusterOptions & { timeout: string }) => {
      const cluster = clusterFrom(opts);
      const { rollback } = await deployService();
      const outcome = await withStore(globals, (store) => rollback({ store, workspace: process.cwd(), cluster, onLine: log }, model, { timeoutMs: timeoutOf(opts.timeout) }));
      report(outcome, Boolean(opts.json));
    });
}

function report(outcome: DeployOutcome, json: boolean): void {
  const { plan, manifests, image, result, decision } = outcome;
  print({ result, image, manifests: manifests.files, removed: manifests.removed, decision, run_id: outcome.record?.run_id }, json, () => {
    const lines = [`${result}: ${plan.state.modelName} version ${plan.rollout.version} (${image})`];
    if (result === 'dry-run') lines.push(...manifests.files.map((f) => `  ${f}`), 'apply: trellis deploy without --dry-run (or kubectl apply --server-side -f the folder)');
    if (decision && decision.state !== 'ready') lines.push(`  ${decision.message}`, ...('fix' in decision ? [`  what to do: ${decision.fix}`] : []));
    return lines.join('\n');
  });
  if (result !== 'ready' && result !== 'dry-run' && result !== 'applied') process.exitCode = 1;
}

/** A line each time a layer changes status (per-layer push progress), sizes in MB. */
function pushPrinter(): (p: PushProgress) => void {
  const seen = new Map<string, string>();
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return (p) => {
    for (const l of p.layers) {
      const key = l.status === 'Pushing' ? `${l.status} ${Math.floor((10 * l.current) / Math.max(1, l.total))}` : l.status;
      if (seen.get(l.id) === key) continue;
      seen.set(l.id, key);
      log(`${l.id}: ${l.status}${l.total ? ` (${mb(l.current)}/${mb(l.total)} MB)` : ''}`);
    }
  };
}
