import * as vscode from 'vscode';
import { basename, dirname } from 'node:path';
import type { JobRequest } from '../../services/jobs/job-spec';
import type { JobView } from '../../services/jobs/job-records';
import type { Platform } from '../platform';
import type { JobsTree } from '../trees/resource-trees';
import { jobLogUri } from '../job-logs';
import { settings } from '../settings';
import { parseKeyValues, splitCommandLine } from '../command-line';
import { command } from './ui';

/** Where the training image comes from: a local image by name, or a build from a Dockerfile in the workspace. */
type ImageSource = { image: string } | { build: string; dockerfile: string };

/** What the quick-pick flow asks for; a caller (a test, another command) may give it whole. */
export interface TrainingOptions {
  experimentName: string;
  source: ImageSource;
  command: string[];
  /** Empty for none, `all`, a count or device ids (as `trellis.gpus`). */
  gpus: string;
  params: Record<string, string>;
}

const GPUS = /^(|all|\d+|\d+(,\d+)*)$/;
const STEPS = 5;

async function askTrainingOptions(platform: Platform): Promise<TrainingOptions | undefined> {
  const title = (n: number) => `Run Training in a Container (${n}/${STEPS})`;
  const client = platform.requireClient();
  const NEW = '$(add) New experiment…';
  const experiments = await client.searchExperiments();
  const picked = await vscode.window.showQuickPick([NEW, ...experiments.map((e) => e.name)], { title: `${title(1)}: experiment` });
  if (!picked) return undefined;
  const experimentName =
    picked === NEW ? (await vscode.window.showInputBox({ title: title(1), prompt: 'New experiment name', validateInput: (v) => (v.trim() ? undefined : 'Enter a name.') }))?.trim() : picked;
  if (!experimentName) return undefined;

  const dockerfiles = await vscode.workspace.findFiles('**/{Dockerfile,*.Dockerfile,Dockerfile.*}', '**/node_modules/**', 20);
  const BY_NAME = '$(package) An image by name…';
  const sourcePick = await vscode.window.showQuickPick(
    [
      { label: BY_NAME, description: 'a local image, e.g. trellis/pytorch-train:latest' },
      ...dockerfiles.map((uri) => ({ label: `$(file) ${vscode.workspace.asRelativePath(uri)}`, description: 'build it, then run', uri })),
    ],
    { title: `${title(2)}: image or Dockerfile` },
  );
  if (!sourcePick) return undefined;
  let source: ImageSource;
  if ('uri' in sourcePick && sourcePick.uri) {
    source = { build: dirname(sourcePick.uri.fsPath), dockerfile: basename(sourcePick.uri.fsPath) };
  } else {
    const image = await vscode.window.showInputBox({ title: title(2), prompt: 'Image (local: images are not pulled)', validateInput: (v) => (v.trim() ? undefined : 'Enter an image name.') });
    if (!image) return undefined;
    source = { image: image.trim() };
  }

  const commandLine = await vscode.window.showInputBox({
    title: `${title(3)}: command`,
    prompt: 'The command the container runs; the workspace is mounted at /workspace (read-only)',
    value: 'python3 /workspace/train.py',
    validateInput: (v) => {
      try {
        return splitCommandLine(v).length ? undefined : 'Enter a command.';
      } catch (err) {
        return (err as Error).message;
      }
    },
  });
  if (!commandLine) return undefined;

  const gpus = await vscode.window.showInputBox({
    title: `${title(4)}: GPUs`,
    prompt: 'Empty for none, all, a count (1) or device ids (0,1); the default is the trellis.gpus setting',
    value: settings().gpus,
    validateInput: (v) => (GPUS.test(v.trim()) ? undefined : 'Empty, all, a count such as 1, or ids such as 0,1.'),
  });
  if (gpus === undefined) return undefined;

  const paramsText = await vscode.window.showInputBox({
    title: `${title(5)}: params`,
    prompt: 'Run params as KEY=VALUE, space- or comma-separated (logged on the run, in TRELLIS_PARAMS, and {{KEY}} in the command is replaced); empty for none',
    validateInput: (v) => {
      try {
        parseKeyValues(v);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
  });
  if (paramsText === undefined) return undefined;
  return { experimentName, source, command: splitCommandLine(commandLine), gpus: gpus.trim(), params: parseKeyValues(paramsText) };
}

export function trainingCommands(platform: Platform, jobs: JobsTree): vscode.Disposable[] {
  return [
    command('trellis.runTraining', async (given?: TrainingOptions): Promise<JobView | undefined> => {
      const client = platform.requireClient();
      const options = given && typeof given === 'object' && 'command' in given ? given : await askTrainingOptions(platform);
      if (!options) return undefined;
      const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      const request: JobRequest = {
        experiment_name: options.experimentName,
        ...options.source,
        command: options.command,
        ...(options.gpus ? { gpus: options.gpus } : {}),
        ...(Object.keys(options.params).length ? { params: options.params } : {}),
        ...(workspace ? { workspace } : {}),
      };
      const job = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: `Trellis: ${'build' in options.source ? 'building the image and ' : ''}starting the training container…`,
          cancellable: true,
        },
        async (_progress, token) => {
          const submitted = await client.submitJob(request);
          // The submit returns once the container started (or failed to); a cancel meanwhile stops it now.
          if (token.isCancellationRequested && (submitted.status === 'RUNNING' || submitted.status === 'SCHEDULED')) return client.cancelJob(submitted.job_id);
          return submitted;
        },
      );
      jobs.refresh();
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(jobLogUri(job)), { preview: false });
      const what = `job '${job.run_name || job.job_id}' (${job.image})`;
      if (job.status === 'FAILED') void vscode.window.showErrorMessage(`Trellis: ${what} failed${job.error ? `: ${job.error}` : ''}.`);
      else void vscode.window.showInformationMessage(`Trellis: ${what} is ${job.status.toLowerCase()}; its logs follow in the editor.`);
      return job;
    }),
  ];
}
