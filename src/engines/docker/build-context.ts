/**
 * The build context `docker build` would send: a tar of a directory minus what .dockerignore excludes, with
 * the same rules as the docker CLI (moby's patternmatcher): one pattern a line, `#` comments, `!` exceptions,
 * `*` and `?` within a path segment, `**` across segments, a pattern also excluding everything under a
 * matching directory, the last matching pattern deciding. The Dockerfile and .dockerignore are always sent.
 * Symbolic links are sent as links, never followed, and no entry can name a path outside the directory.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, posix, relative, resolve } from 'node:path';
import tar from 'tar-fs';
import { invalidParameter } from '../../core/errors';

export interface IgnorePattern {
  /** The cleaned pattern, as moby keeps it (no leading '/', no '!'). */
  pattern: string;
  /** True for a `!` line: a path it matches is sent after all. */
  exception: boolean;
  regex: RegExp;
}

/** Parses .dockerignore text as moby's dockerignore.ReadAll does. */
export function parseDockerignore(text: string): IgnorePattern[] {
  const patterns: IgnorePattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const exception = line.startsWith('!');
    if (exception) line = line.slice(1).trim();
    if (!line) continue;
    let pattern = posix.normalize(line);
    if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    if (pattern.length > 1 && pattern.endsWith('/')) pattern = pattern.slice(0, -1);
    patterns.push({ pattern, exception, regex: patternRegex(pattern) });
  }
  return patterns;
}

/** moby's pattern-to-regexp translation: `**` spans segments, `*` and `?` stay inside one. */
function patternRegex(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') i++; // "**/" is "**"
        re += i + 1 >= pattern.length ? '.*' : '(.*/)?';
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') {
      re += '[^/]';
    } else if ('.+()|{}$'.includes(ch)) {
      re += `\\${ch}`;
    } else if (ch === '\\') {
      const next = pattern[++i];
      re += next === undefined ? '\\\\' : `\\${next}`;
    } else {
      re += ch;
    }
  }
  try {
    return new RegExp(`${re}$`);
  } catch {
    throw invalidParameter(`.dockerignore pattern '${pattern}' is not valid (an unclosed [ ] class?).`);
  }
}

/** moby's MatchesOrParentMatches: is this context-relative path (or a directory above it) excluded? */
export function isExcluded(path: string, patterns: IgnorePattern[]): boolean {
  const parents = posix.dirname(path) === '.' ? [] : posix.dirname(path).split('/');
  let excluded = false;
  for (const p of patterns) {
    // An exclusion cannot change an excluded path, nor an exception an included one.
    if (p.exception !== excluded) continue;
    let match = p.regex.test(path);
    for (let i = 0; !match && i < parents.length; i++) match = p.regex.test(parents.slice(0, i + 1).join('/'));
    if (match) excluded = !p.exception;
  }
  return excluded;
}

/** As the docker CLI: an excluded directory is still walked when an exception pattern names a path in it. */
function exceptionMayMatchInside(dir: string, patterns: IgnorePattern[]): boolean {
  return patterns.some((p) => p.exception && `${p.pattern}/`.startsWith(`${dir}/`));
}

export interface BuildContext {
  /** Context-relative paths sent, in the order they are packed (directories before their contents). */
  entries: string[];
  /** The Dockerfile's path relative to the context, '/'-separated, for the build's `dockerfile` option. */
  dockerfile: string;
  /** The tar stream to hand to the engine. */
  pack(): NodeJS.ReadableStream;
}

/** Lists and packs `contextDir` for a build with `dockerfile` (default `Dockerfile`, relative to the context). */
export function buildContext(contextDir: string, dockerfile = 'Dockerfile'): BuildContext {
  const root = resolve(contextDir);
  if (!existsSync(root) || !lstatSync(root).isDirectory()) throw invalidParameter(`Build context '${contextDir}' is not a directory.`);
  const dockerfilePath = resolve(root, dockerfile);
  const relDockerfile = relative(root, dockerfilePath).split('\\').join('/');
  if (relDockerfile.startsWith('..') || isAbsolute(relDockerfile)) {
    throw invalidParameter(`The Dockerfile '${dockerfile}' is outside the build context '${contextDir}': move it inside, or pick a context that contains it.`);
  }
  if (!existsSync(dockerfilePath)) throw invalidParameter(`No Dockerfile at '${dockerfilePath}': create one, or name it with --file.`);

  const ignoreFile = join(root, '.dockerignore');
  const patterns = existsSync(ignoreFile) ? parseDockerignore(readFileSync(ignoreFile, 'utf8')) : [];
  // The docker CLI always sends these two, whatever .dockerignore says.
  patterns.push(...parseDockerignore(`!${relDockerfile}\n!.dockerignore`));

  const entries: string[] = [];
  const walk = (dirRel: string): void => {
    const names = readdirSync(dirRel ? join(root, dirRel) : root, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of names) {
      const rel = dirRel ? `${dirRel}/${d.name}` : d.name;
      const excluded = isExcluded(rel, patterns);
      if (!excluded) entries.push(rel);
      // Dirent reports a symlink as a symlink: links to directories are entries, never walked.
      if (d.isDirectory() && (!excluded || exceptionMayMatchInside(rel, patterns))) walk(rel);
    }
  };
  walk('');

  return {
    entries,
    dockerfile: relDockerfile,
    // Each entry is packed alone (directories are not re-read); tar-fs checks every entry stays inside root,
    // lstat packs links as links, and FIFOs and sockets are skipped rather than failing the build.
    pack: () => tar.pack(root, { entries, ignore: () => true, dereference: false, strict: false }) as unknown as NodeJS.ReadableStream,
  };
}
