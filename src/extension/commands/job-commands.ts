import * as vscode from 'vscode';
import type { JobView } from '../../services/jobs/job-records';
import type { Platform } from '../platform';
import type { ResourceNode, JobsTree } from '../trees/resource-trees';
import { jobLogUri } from '../job-logs';
import { command, confirm } from './ui';

async function pickJob(platform: Platform, title: string, activeOnly: boolean): Promise<JobView | undefined> {
  const jobs = (await platform.requireClient().listJobs({ maxResults: 200 })).filter((j) => !activeOnly || j.status === 'RUNNING' || j.status === 'SCHEDULED');
  if (jobs.length === 0) throw new Error(activeOnly ? 'No training job is running or queued.' : 'There are no training jobs yet.');
  const pick = await vscode.window.showQuickPick(
    jobs.map((j) => ({ label: j.run_name || j.job_id, description: `${j.status.toLowerCase()} · ${j.image}`, detail: j.command.join(' '), j })),
    { title },
  );
  return pick?.j;
}

const jobOf = (node?: ResourceNode): JobView | undefined => (node?.kind === 'resource' ? node.job : undefined);

export function jobCommands(platform: Platform, tree: JobsTree): vscode.Disposable[] {
  return [
    command('trellis.showJobLogs', async (node?: ResourceNode) => {
      const job = jobOf(node) ?? (await pickJob(platform, 'Show Job Logs', false));
      if (!job) return;
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(jobLogUri(job)), { preview: false });
    }),
    command('trellis.cancelJob', async (node?: ResourceNode) => {
      const job = jobOf(node) ?? (await pickJob(platform, 'Cancel Job', true));
      if (!job) return;
      if (!(await confirm(`Cancel job '${job.run_name || job.job_id}'? Its container is stopped (SIGTERM, then SIGKILL) and the run ends as KILLED.`, 'Cancel Job'))) return;
      const ended = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Trellis: cancelling ${job.run_name || job.job_id}…` }, () =>
        platform.requireClient().cancelJob(job.job_id),
      );
      tree.refresh();
      void vscode.window.showInformationMessage(`Trellis: job '${ended.run_name || ended.job_id}' is ${ended.status.toLowerCase()}.`);
    }),
  ];
}
