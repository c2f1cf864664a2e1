import { execFile } from 'node:child_process';

export interface GitState {
  commit: string;
  dirty: boolean;
}

/**
 * The workspace's commit and whether it has uncommitted changes; undefined outside a git work tree or
 * before its first commit. One git process (porcelain v2 names the commit in its `# branch.oid` header):
 * it runs while the job's container is being created, on the server's core.
 */
export async function gitState(workspace: string): Promise<GitState | undefined> {
  let status: string;
  try {
    status = await git(workspace, ['status', '--porcelain=v2', '--branch', '--untracked-files=normal']);
  } catch {
    return undefined;
  }
  const lines = status.split('\n').filter((l) => l !== '');
  const commit = lines.find((l) => l.startsWith('# branch.oid '))?.slice('# branch.oid '.length);
  if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) return undefined;
  return { commit, dirty: lines.some((l) => !l.startsWith('# ')) };
}

/** execFile, never a shell: the workspace path is the user's and may hold any character. */
function git(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', ['-C', cwd, ...args], { timeout: 10_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}
