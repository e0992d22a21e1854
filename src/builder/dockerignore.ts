import { posix } from 'node:path';

/**
 * `.dockerignore` with Docker's rules: one pattern a line, `#` comments, `!` exceptions, a
 * leading `/` ignored, patterns cleaned as paths; `*` and `?` never cross a `/`, `**` matches
 * any number of directories; a path is excluded when it or one of its parent directories
 * matches, the last matching pattern deciding. Pure.
 */

type Pattern = { re: RegExp; exclusion: boolean; text: string };

export class IgnoreError extends Error {}

export class DockerIgnore {
  readonly #patterns: Pattern[];

  constructor(patterns: string[]) {
    this.#patterns = patterns.map((p) => compile(p));
  }

  static parse(text: string): DockerIgnore {
    const out: string[] = [];
    for (const line of text.split(/\r?\n/)) {
      const t = line.trim();
      if (t === '' || t.startsWith('#')) continue;
      out.push(t);
    }
    return new DockerIgnore(out);
  }

  get empty(): boolean {
    return this.#patterns.length === 0;
  }

  /** Whether a path relative to the context root (with `/`) is left out of the context. */
  excludes(path: string): boolean {
    const file = posix.normalize(path).replace(/^\/+/, '');
    const parent = posix.dirname(file);
    const dirs = parent === '.' ? [] : parent.split('/');
    let matched = false;
    for (const p of this.#patterns) {
      // An inclusion cannot change a path already excluded, nor an exception one not excluded.
      if (p.exclusion !== matched) continue;
      let match = p.re.test(file);
      for (let i = 0; !match && i < dirs.length; i++) match = p.re.test(dirs.slice(0, i + 1).join('/'));
      if (match) matched = !p.exclusion;
    }
    return matched;
  }

  /** Whether some exception (`!`) pattern could apply inside `dir`: then it must be walked even when excluded. */
  hasExceptions(): boolean {
    return this.#patterns.some((p) => p.exclusion);
  }
}

function compile(raw: string): Pattern {
  let text = raw;
  let exclusion = false;
  if (text.startsWith('!')) {
    exclusion = true;
    text = text.slice(1).trim();
    if (text === '') throw new IgnoreError('illegal exclusion pattern: "!"');
  }
  text = posix.normalize(text);
  if (text.length > 1 && text.startsWith('/')) text = text.replace(/^\/+/, '');
  if (text.length > 1 && text.endsWith('/')) text = text.slice(0, -1);
  return { re: toRegExp(text), exclusion, text };
}

function toRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') i++;
        re += i + 1 >= pattern.length ? '.*' : '(.*/)?';
      } else re += '[^/]*';
    } else if (ch === '?') {
      re += '[^/]';
    } else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new IgnoreError(`syntax error in pattern: ${pattern}`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (ch === '\\') {
      const next = pattern[i + 1];
      if (next !== undefined) {
        re += escapeRe(next);
        i++;
      } else re += '\\\\';
    } else re += escapeRe(ch);
  }
  return new RegExp(re + '$');
}

function escapeRe(ch: string): string {
  return /[.+()|{}$^\]\\]/.test(ch) ? `\\${ch}` : ch;
}

/**
 * Go's filepath.Match, which COPY's wildcards use: `*` and `?` never match `/`, `[...]`
 * classes, `\` escapes. The whole name must match.
 */
export function globMatch(pattern: string, name: string): boolean {
  return toRegExp(pattern.replace(/\*\*/g, '*')).test(name);
}

export function hasWildcards(s: string): boolean {
  return /[*?[\\]/.test(s);
}
