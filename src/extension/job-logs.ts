import * as vscode from 'vscode';
import type { JobView } from '../services/jobs/job-records';
import type { Platform } from './platform';

export const JOB_LOG_SCHEME = 'trellis-job-log';
/** Lines arriving faster than this are shown together: an editor redraw per line would lag a chatty job. */
const REDRAW_MS = 200;

/** `trellis-job-log:/<job id>/<run name>.log`: a job's output, growing while the job runs. */
export function jobLogUri(job: JobView): vscode.Uri {
  return vscode.Uri.from({ scheme: JOB_LOG_SCHEME, path: `/${job.job_id}/${(job.run_name || job.job_id).replace(/[/\\]/g, '_')}.log` });
}

interface Follow {
  text: string;
  abort: AbortController;
  timer?: NodeJS.Timeout;
}

/** Job logs as read-only documents that follow the server's log stream until the job ends or the tab closes. */
export class JobLogDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly follows = new Map<string, Follow>();
  private readonly closing: vscode.Disposable;

  constructor(private readonly platform: Platform) {
    this.closing = vscode.workspace.onDidCloseTextDocument((doc) => {
      const follow = this.follows.get(doc.uri.toString());
      if (!follow) return;
      follow.abort.abort();
      this.follows.delete(doc.uri.toString());
    });
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const key = uri.toString();
    let follow = this.follows.get(key);
    if (!follow) {
      follow = { text: '', abort: new AbortController() };
      this.follows.set(key, follow);
      this.start(uri, follow);
    }
    return follow.text;
  }

  private start(uri: vscode.Uri, follow: Follow): void {
    const jobId = uri.path.split('/')[1] ?? '';
    const append = (s: string) => {
      follow.text += s;
      follow.timer ??= setTimeout(() => {
        follow.timer = undefined;
        this.changed.fire(uri);
      }, REDRAW_MS);
    };
    const client = this.platform.requireClient();
    client
      .followJobLogs(jobId, (l) => append(l.stream === 'stdout' ? `${l.line}\n` : `[${l.stream}] ${l.line}\n`), { follow: true, signal: follow.abort.signal })
      .then((job) => append(`\n--- job ${job.status.toLowerCase()}${job.exit_code !== undefined ? ` (exit ${job.exit_code})` : ''}${job.error ? `: ${job.error}` : ''} ---\n`))
      .catch((err: Error) => {
        if (!follow.abort.signal.aborted) append(`\n--- log stream ended: ${err.message} ---\n`);
      });
  }

  dispose(): void {
    for (const f of this.follows.values()) {
      f.abort.abort();
      if (f.timer) clearTimeout(f.timer);
    }
    this.closing.dispose();
    this.changed.dispose();
  }
}
