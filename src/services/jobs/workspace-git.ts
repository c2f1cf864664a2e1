import { execFile } from 'node:child_process';

export interface GitState {
  commit: string;
  dirty: boolean;
}

/** The workspace's commit and whether it has uncommitted changes; undefined outside a git work tree. */
export async function gitState(workspace: string): Promise<GitState | undefined> {
  try {
    const commit = (await git(workspace, ['rev-parse', 'HEAD'])).trim();
    const status = await git(workspace, ['status', '--porcelain', '--untracked-files=normal']);
    return { commit, dirty: status.trim() !== '' };
  } catch {
    return undefined;
  }
}

/** execFile, never a shell: the workspace path is the user's and may hold any character. */
function git(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', ['-C', cwd, ...args], { timeout: 10_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}
