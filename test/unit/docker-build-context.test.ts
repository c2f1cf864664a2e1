// .dockerignore exactly as the docker CLI reads it (cases from moby's patternmatcher tests), and the
// context a build sends from a real directory: exclusions, exceptions, `**`, the Dockerfile always sent,
// links kept as links, a Dockerfile outside the context refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildContext, isExcluded, parseDockerignore } from '../../src/engines/docker/build-context';

const excluded = (ignore: string, path: string) => isExcluded(path, parseDockerignore(ignore));

describe('.dockerignore patterns', () => {
  test('comments, blank lines, leading slash and ./ are cleaned as moby does', () => {
    assert.deepEqual(parseDockerignore('# comment\n\n  /build/ \n./tmp\n! keep.txt\n').map((p) => [p.pattern, p.exception]), [
      ['build', false],
      ['tmp', false],
      ['keep.txt', true],
    ]);
  });

  test('* and ? stay inside one segment; ** spans any number', () => {
    assert.equal(excluded('*.log', 'a.log'), true);
    assert.equal(excluded('*.log', 'sub/a.log'), false);
    assert.equal(excluded('**/*.log', 'sub/deep/a.log'), true);
    assert.equal(excluded('**/*.log', 'a.log'), true);
    assert.equal(excluded('a?c', 'abc'), true);
    assert.equal(excluded('a?c', 'a/c'), false);
    assert.equal(excluded('dir/**', 'dir/x/y'), true);
    assert.equal(excluded('**/cache/**', 'a/b/cache/c'), true);
    assert.equal(excluded('[a-c].txt', 'b.txt'), true);
    assert.equal(excluded('[a-c].txt', 'd.txt'), false);
    assert.equal(excluded('file.txt', 'fileXtxt'), false, 'a dot is literal');
  });

  test('a pattern excludes everything under a directory it matches', () => {
    assert.equal(excluded('node_modules', 'node_modules/x/index.js'), true);
    assert.equal(excluded('data/raw', 'data/raw/2024/a.csv'), true);
    assert.equal(excluded('data/raw', 'data/rawer.csv'), false);
  });

  test('exceptions bring paths back; the last matching line decides', () => {
    const ignore = '*.md\n!README.md\n';
    assert.equal(excluded(ignore, 'NOTES.md'), true);
    assert.equal(excluded(ignore, 'README.md'), false);
    assert.equal(excluded('*.md\n!README.md\nREADME.md', 'README.md'), true);
    assert.equal(excluded('data\n!data/keep', 'data/keep/a.bin'), false);
    assert.equal(excluded('data\n!data/keep', 'data/drop/a.bin'), true);
  });
});

describe('buildContext', () => {
  const make = (files: Record<string, string>): string => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-ctx-'));
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    return dir;
  };

  test('sends what .dockerignore keeps, walks into excluded dirs only for exceptions, always sends Dockerfile', () => {
    const dir = make({
      'Dockerfile': 'FROM x',
      '.dockerignore': 'Dockerfile\n.dockerignore\n**/*.log\n!keep.log\nsecrets\ndata\n!data/keep\n',
      'train.py': '',
      'keep.log': '',
      'a.log': '',
      'src/b.log': '',
      'src/model.py': '',
      'secrets/key': '',
      'data/keep/x.bin': '',
      'data/drop/y.bin': '',
    });
    const ctx = buildContext(dir);
    assert.deepEqual(ctx.entries, ['.dockerignore', 'Dockerfile', 'data/keep', 'data/keep/x.bin', 'keep.log', 'src', 'src/model.py', 'train.py']);
    assert.equal(ctx.dockerfile, 'Dockerfile');
    rmSync(dir, { recursive: true, force: true });
  });

  test('a link to a path outside the context is sent as a link, never followed', () => {
    const outside = make({ 'secret.txt': 'outside' });
    const dir = make({ 'Dockerfile': 'FROM x' });
    symlinkSync(outside, join(dir, 'escape'));
    const ctx = buildContext(dir);
    assert.deepEqual(ctx.entries, ['Dockerfile', 'escape']);
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  test('a Dockerfile outside the context, a missing one, and a context that is not a directory are refused', () => {
    const dir = make({ 'sub/Dockerfile': 'FROM x' });
    assert.throws(() => buildContext(join(dir, 'sub'), '../../Dockerfile'), /outside the build context/);
    assert.throws(() => buildContext(dir), /No Dockerfile at/);
    assert.equal(buildContext(dir, 'sub/Dockerfile').dockerfile, 'sub/Dockerfile');
    assert.throws(() => buildContext(join(dir, 'sub', 'Dockerfile')), /is not a directory/);
    rmSync(dir, { recursive: true, force: true });
  });
});
