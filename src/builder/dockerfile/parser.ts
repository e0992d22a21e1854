/**
 * The Dockerfile's text into logical lines: parser directives (`# escape=`, `# syntax=`),
 * comments, line continuations, one instruction per logical line with its flags. Pure; the
 * meaning of each instruction is instructions.ts's.
 */

export class DockerfileError extends Error {
  /** The HTTP side: a parse error is the client's (400), as dockerd answers it. */
  readonly line: number | undefined;
  constructor(message: string, line?: number) {
    super(line === undefined ? message : `dockerfile parse error line ${line}: ${message}`);
    this.line = line;
  }
}

export type Flag = { name: string; value: string | undefined };

export type RawInstruction = {
  /** Lower case: `run`, `copy`... */
  keyword: string;
  /** The instruction as written on its logical line, continuations joined (for messages and `Step` lines). */
  original: string;
  /** What follows the keyword and the flags, trimmed. */
  args: string;
  flags: Flag[];
  line: number;
};

export type ParsedDockerfile = { escape: string; instructions: RawInstruction[] };

export const KEYWORDS = new Set([
  'add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck', 'label', 'maintainer',
  'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir',
]);

/** Instructions whose leading `--name=value` words are flags (the others take `--x` as an argument). */
const TAKES_FLAGS = new Set(['add', 'copy', 'from', 'healthcheck', 'run']);

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;

export function parseDockerfile(text: string): ParsedDockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape = '\\';
  let at = 0;
  const seen = new Set<string>();
  for (; at < lines.length; at++) {
    const m = DIRECTIVE.exec(lines[at] as string);
    if (!m) break;
    const key = (m[1] as string).toLowerCase();
    if (key !== 'escape' && key !== 'syntax') break;
    if (seen.has(key)) throw new DockerfileError(`only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === 'escape') {
      const v = m[2] as string;
      if (v !== '`' && v !== '\\') throw new DockerfileError(`invalid ESCAPE '${v}'. Must be \` or \\`);
      escape = v;
    }
    // `# syntax=` names a BuildKit frontend: the classic builder accepts it and ignores it.
  }
  const continuation = new RegExp(`${escape === '\\' ? '\\\\' : '`'}[ \\t]*$`);
  const instructions: RawInstruction[] = [];
  let buf: string | undefined;
  let start = 0;
  for (let i = at; i < lines.length; i++) {
    const line = lines[i] as string;
    const trimmed = line.trim();
    if (trimmed.startsWith('#')) continue;
    if (trimmed === '') {
      // An empty line inside a continuation is skipped; outside, it separates nothing.
      continue;
    }
    if (buf === undefined) {
      start = i + 1;
      // A heredoc's body would read as instructions: refuse it at its first line.
      if (/^\s*(run|copy|add)\s.*<<-?["']?[A-Za-z_]/i.test(line)) {
        const kw = (/^\s*(\S+)/.exec(line)?.[1] ?? '').toUpperCase();
        throw new DockerfileError(`${kw} with a heredoc (<<) requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`, start);
      }
    }
    const withoutLead = buf === undefined ? line.replace(/^\s+/, '') : line;
    if (continuation.test(withoutLead)) {
      buf = (buf ?? '') + withoutLead.replace(continuation, '');
      continue;
    }
    buf = (buf ?? '') + withoutLead;
    instructions.push(splitInstruction(buf, start));
    buf = undefined;
  }
  if (buf !== undefined && buf.trim() !== '') instructions.push(splitInstruction(buf, start));
  return { escape, instructions };
}

function splitInstruction(logical: string, line: number): RawInstruction {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(logical.trim());
  const word = (m?.[1] ?? '') as string;
  const keyword = word.toLowerCase();
  if (!KEYWORDS.has(keyword)) throw new DockerfileError(`unknown instruction: ${word.toUpperCase()}`, line);
  let rest = ((m?.[2] ?? '') as string).trim();
  const flags: Flag[] = [];
  if (TAKES_FLAGS.has(keyword)) {
    const parsed = extractFlags(rest, line);
    flags.push(...parsed.flags);
    rest = parsed.rest;
  }
  return { keyword, original: logical.trim(), args: rest, flags, line };
}

/** Leading `--name`, `--name=value` and `--name="quoted value"` words; `--` alone ends them. */
export function extractFlags(s: string, line: number): { flags: Flag[]; rest: string } {
  const flags: Flag[] = [];
  let rest = s;
  for (;;) {
    if (rest === '--' || rest.startsWith('-- ')) {
      rest = rest.slice(2).trim();
      break;
    }
    const m = /^--([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|'[^']*'|\S*))?(?:\s+|$)/.exec(rest);
    if (!m) break;
    let value = m[2];
    if (value !== undefined && value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
      value = value.slice(1, -1);
    }
    if (!/^[a-zA-Z][a-zA-Z0-9-]*$/.test(m[1] as string)) throw new DockerfileError(`Unknown flag: ${m[1] as string}`, line);
    flags.push({ name: m[1] as string, value });
    rest = rest.slice(m[0].length);
  }
  return { flags, rest: rest.trim() };
}
