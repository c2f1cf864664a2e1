// A job's workspace tags come from one real git process over a real work tree.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gitState } from '../../src/services/jobs/workspace-git';
import { tempDir } from '../support/platform';

const { dir: root, cleanup } = tempDir('trellis-git-');
after(cleanup);

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-C', cwd, '-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { encoding: 'utf8' }).trim();

function repo(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  git(dir, 'init', '-q');
  return dir;
}

test('a clean work tree: its HEAD commit, not dirty', async () => {
  const dir = repo('clean');
  writeFileSync(join(dir, 'train.py'), 'print(1)\n');
  git(dir, 'add', 'train.py');
  git(dir, 'commit', '-q', '-m', 'one');
  assert.deepEqual(await gitState(dir), { commit: git(dir, 'rev-parse', 'HEAD'), dirty: false });
});

test('an untracked file or a modified tracked one makes it dirty', async () => {
  const dir = repo('dirty');
  writeFileSync(join(dir, 'train.py'), 'print(1)\n');
  git(dir, 'add', 'train.py');
  git(dir, 'commit', '-q', '-m', 'one');
  writeFileSync(join(dir, 'notes.txt'), 'new\n');
  assert.equal((await gitState(dir))?.dirty, true, 'untracked');
  git(dir, 'add', 'notes.txt');
  git(dir, 'commit', '-q', '-m', 'two');
  assert.equal((await gitState(dir))?.dirty, false);
  writeFileSync(join(dir, 'train.py'), 'print(2)\n');
  assert.deepEqual(await gitState(dir), { commit: git(dir, 'rev-parse', 'HEAD'), dirty: true });
});

test('no commit yet, or no work tree at all: no state', async () => {
  assert.equal(await gitState(repo('empty')), undefined);
  const plain = join(root, 'plain');
  mkdirSync(plain);
  assert.equal(await gitState(plain), undefined);
});
