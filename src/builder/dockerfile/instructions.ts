import { DockerfileError, extractFlags, KEYWORDS, parseDockerfile, type Flag, type RawInstruction } from './parser.js';
import { parseGoDuration } from '../../lib/go-duration.js';

/*
 * Each logical line as a typed instruction, checked as the classic builder checks it (argument
 * counts, flags, forms), with Docker's messages. Words keep their quotes and `$` references:
 * substitution needs the build's environment and happens when the step runs (dispatch.ts).
 */

type Base = { line: number; original: string };

/** The shell form keeps its text; the exec (JSON) form its words. */
export type CommandForm = { json: true; words: string[] } | { json: false; text: string };

export type Instruction = Base &
  (
    | { kind: 'from'; image: string; stage?: string; platform?: string }
    | { kind: 'run'; command: CommandForm }
    | { kind: 'cmd' | 'entrypoint'; command: CommandForm }
    | { kind: 'env' | 'label'; pairs: [string, string][] }
    | { kind: 'arg'; args: { name: string; value?: string }[] }
    | { kind: 'workdir' | 'user' | 'stopsignal' | 'maintainer'; value: string }
    | { kind: 'copy' | 'add'; sources: string[]; dest: string; from?: string; chown?: string; chmod?: string }
    | { kind: 'expose'; ports: string[] }
    | { kind: 'volume'; paths: string[] }
    | { kind: 'shell'; shell: string[] }
    | { kind: 'healthcheck'; health: Record<string, unknown> }
    | { kind: 'onbuild'; expression: string }
  );

export type Stage = { name?: string; index: number; from: Extract<Instruction, { kind: 'from' }>; steps: Instruction[] };

export type Dockerfile = {
  escape: string;
  /** `ARG`s before the first `FROM`: the only variables `FROM` lines see. */
  metaArgs: { name: string; value?: string }[];
  stages: Stage[];
};

const BUILDKIT = (what: string) =>
  `the ${what} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`;

export function parse(text: string, name = 'Dockerfile'): Dockerfile {
  const parsed = parseDockerfile(text);
  if (parsed.instructions.length === 0) throw new DockerfileError(`the Dockerfile (${name}) cannot be empty`);
  const metaArgs: { name: string; value?: string }[] = [];
  const stages: Stage[] = [];
  for (const raw of parsed.instructions) {
    const ins = toInstruction(raw);
    if (ins.kind === 'from') {
      stages.push({ ...(ins.stage ? { name: ins.stage } : {}), index: stages.length, from: ins, steps: [] });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (!stage) {
      if (ins.kind === 'arg') {
        metaArgs.push(...ins.args);
        continue;
      }
      throw new DockerfileError('no build stage in current context');
    }
    stage.steps.push(ins);
  }
  if (stages.length === 0) throw new DockerfileError('no build stage in current context');
  return { escape: parsed.escape, metaArgs, stages };
}

/** An `ONBUILD` trigger (kept in the image as written) parsed again when a build uses that image. */
export function parseTrigger(expression: string, line: number): Instruction {
  const [raw] = parseDockerfile(expression).instructions;
  if (!raw) throw new DockerfileError('ONBUILD requires at least one argument', line);
  return toInstruction({ ...raw, line });
}

function toInstruction(raw: RawInstruction): Instruction {
  const base = { line: raw.line, original: raw.original };
  const fail = (msg: string): never => {
    throw new DockerfileError(msg, raw.line);
  };
  const KW = raw.keyword.toUpperCase();
  const flags = flagMap(raw, fail);
  if (['run', 'copy', 'add'].includes(raw.keyword) && /(^|\s)<<-?["']?[A-Za-z_]/.test(raw.args)) {
    fail(`${KW} with a heredoc (<<) requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`);
  }
  switch (raw.keyword) {
    case 'from': {
      allowFlags(flags, ['platform'], fail);
      const words = raw.args.split(/\s+/).filter(Boolean);
      if (words.length !== 1 && !(words.length === 3 && (words[1] as string).toLowerCase() === 'as')) fail('FROM requires either one or three arguments');
      const stage = words[2]?.toLowerCase();
      if (stage !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(stage)) {
        fail(`invalid name for build stage: "${words[2] as string}", name can't start with a number or contain symbols`);
      }
      const platform = flags.get('platform');
      return { ...base, kind: 'from', image: words[0] as string, ...(stage ? { stage } : {}), ...(platform ? { platform } : {}) };
    }
    case 'run':
      if (flags.has('mount')) throw new DockerfileError(BUILDKIT('--mount'));
      if (flags.has('network')) throw new DockerfileError(BUILDKIT('--network'));
      if (flags.has('security')) throw new DockerfileError(BUILDKIT('--security'));
      allowFlags(flags, [], fail);
      if (raw.args === '') fail('RUN requires at least one argument');
      return { ...base, kind: 'run', command: commandForm(raw.args) };
    case 'cmd':
    case 'entrypoint':
      return { ...base, kind: raw.keyword, command: commandForm(raw.args) };
    case 'env':
    case 'label': {
      const pairs = nameValues(raw.args, KW, fail);
      return { ...base, kind: raw.keyword, pairs };
    }
    case 'arg': {
      const words = splitWords(raw.args);
      if (words.length === 0) fail('ARG requires at least one argument');
      const args = words.map((w) => {
        const eq = w.indexOf('=');
        const name = eq < 0 ? w : w.slice(0, eq);
        if (name === '') fail('ARG names can not be blank');
        return eq < 0 ? { name } : { name, value: unquoteOnce(w.slice(eq + 1)) };
      });
      return { ...base, kind: 'arg', args };
    }
    case 'workdir':
    case 'user':
    case 'stopsignal':
    case 'maintainer':
      if (raw.args === '') fail(`${KW} requires exactly one argument`);
      if (raw.keyword === 'stopsignal' && /\s/.test(raw.args)) fail('STOPSIGNAL requires exactly one argument');
      return { ...base, kind: raw.keyword, value: raw.args };
    case 'copy':
    case 'add': {
      if (flags.has('link')) throw new DockerfileError(BUILDKIT('--link'));
      if (flags.has('checksum')) throw new DockerfileError(BUILDKIT('--checksum'));
      if (flags.has('parents') || flags.has('exclude') || flags.has('keep-git-dir')) {
        throw new DockerfileError(BUILDKIT(`--${[...flags.keys()].find((k) => ['parents', 'exclude', 'keep-git-dir'].includes(k)) as string}`));
      }
      allowFlags(flags, raw.keyword === 'copy' ? ['from', 'chown', 'chmod'] : ['chown', 'chmod'], fail);
      const words = jsonArray(raw.args) ?? raw.args.split(/\s+/).filter(Boolean);
      if (words.length < 2) fail(`${KW} requires at least two arguments, but only one was provided. Destination could not be determined.`);
      const from = flags.get('from');
      const chown = flags.get('chown');
      const chmod = flags.get('chmod');
      if (chmod !== undefined && !/^[0-7]{1,4}$/.test(chmod)) fail(`invalid chmod parameter: ${chmod}`);
      return {
        ...base,
        kind: raw.keyword,
        sources: words.slice(0, -1),
        dest: words[words.length - 1] as string,
        ...(from ? { from } : {}),
        ...(chown ? { chown } : {}),
        ...(chmod ? { chmod } : {}),
      };
    }
    case 'expose': {
      const ports = raw.args.split(/\s+/).filter(Boolean);
      if (ports.length === 0) fail('EXPOSE requires at least one argument');
      return { ...base, kind: 'expose', ports };
    }
    case 'volume': {
      const paths = jsonArray(raw.args) ?? raw.args.split(/\s+/).filter(Boolean);
      if (paths.length === 0) fail('VOLUME requires at least one argument');
      for (const p of paths) if (p.trim() === '') fail('VOLUME specified can not be an empty string');
      return { ...base, kind: 'volume', paths };
    }
    case 'shell': {
      const shell = jsonArray(raw.args);
      if (!shell) fail('SHELL requires the arguments to be in JSON form');
      if ((shell as string[]).length === 0) fail('SHELL requires at least one argument');
      return { ...base, kind: 'shell', shell: shell as string[] };
    }
    case 'healthcheck':
      return { ...base, kind: 'healthcheck', health: healthcheck(raw, flags, fail) };
    case 'onbuild': {
      if (raw.args === '') fail('ONBUILD requires at least one argument');
      const inner = (/^\S+/.exec(raw.args)?.[0] ?? '').toUpperCase();
      if (inner === 'ONBUILD') fail('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (inner === 'FROM' || inner === 'MAINTAINER') fail(`${inner} isn't allowed as an ONBUILD trigger`);
      if (!KEYWORDS.has(inner.toLowerCase())) fail(`unknown instruction: ${inner}`);
      // Checked now, so that a bad trigger fails this build rather than the one using the image.
      toInstruction({ ...raw, ...splitNested(raw.args, raw.line) });
      return { ...base, kind: 'onbuild', expression: raw.args };
    }
  }
  return fail(`unknown instruction: ${KW}`);
}

function splitNested(args: string, line: number): Omit<RawInstruction, 'line' | 'original'> {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(args) as RegExpExecArray;
  const keyword = (m[1] as string).toLowerCase();
  const { flags, rest } = ['add', 'copy', 'healthcheck', 'run'].includes(keyword) ? extractFlags((m[2] as string).trim(), line) : { flags: [], rest: (m[2] as string).trim() };
  return { keyword, args: rest, flags };
}

function flagMap(raw: RawInstruction, fail: (m: string) => never): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of raw.flags as Flag[]) {
    if (out.has(f.name)) fail(`Duplicate flag specified: ${f.name}`);
    out.set(f.name, f.value ?? '');
  }
  return out;
}

function allowFlags(flags: Map<string, string>, allowed: string[], fail: (m: string) => never): void {
  for (const k of flags.keys()) if (!allowed.includes(k)) fail(`Unknown flag: ${k}`);
}

/** `["a", "b"]`, or undefined when the text is not a JSON array of strings (then it is the shell form). */
function jsonArray(s: string): string[] | undefined {
  if (!s.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(s);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // not JSON: the shell form
  }
  return undefined;
}

function commandForm(args: string): CommandForm {
  const words = jsonArray(args);
  return words ? { json: true, words } : { json: false, text: args };
}

/** Words separated by whitespace outside quotes, quotes and escapes kept (Docker's parseWords). */
export function splitWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (quote === undefined && /\s/.test(ch)) {
      if (cur !== '') words.push(cur);
      cur = '';
      continue;
    }
    if (ch === '\\' && i + 1 < s.length) {
      cur += ch + (s[++i] as string);
      continue;
    }
    if (quote === undefined && (ch === '"' || ch === "'")) quote = ch;
    else if (ch === quote) quote = undefined;
    cur += ch;
  }
  if (cur !== '') words.push(cur);
  return words;
}

function unquoteOnce(v: string): string {
  return v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0]) ? v.slice(1, -1) : v;
}

/** `ENV a=1 b="x y"`, or the legacy `ENV key the rest of the line`. */
function nameValues(args: string, kw: string, fail: (m: string) => never): [string, string][] {
  const words = splitWords(args);
  if (words.length === 0) fail(`${kw} requires at least one argument`);
  if (!(words[0] as string).includes('=')) {
    const m = /^(\S+)\s*([\s\S]*)$/.exec(args) as RegExpExecArray;
    if ((m[2] as string) === '') fail(`${kw} must have two arguments`);
    return [[m[1] as string, m[2] as string]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) fail(`Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    if (eq === 0) fail(`${kw} names can not be blank`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

const HEALTH_FLAGS: Record<string, string> = {
  interval: 'Interval',
  timeout: 'Timeout',
  'start-period': 'StartPeriod',
  'start-interval': 'StartInterval',
  retries: 'Retries',
};

function healthcheck(raw: RawInstruction, flags: Map<string, string>, fail: (m: string) => never): Record<string, unknown> {
  const words = raw.args.split(/\s+/).filter(Boolean);
  const type = (words[0] ?? '').toUpperCase();
  if (type === 'NONE') {
    if (words.length > 1 || flags.size > 0) fail('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (type !== 'CMD') fail(`Unknown type "${words[0] ?? ''}" in HEALTHCHECK (try CMD)`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of flags) {
    const key = HEALTH_FLAGS[k];
    if (!key) fail(`Unknown flag: ${k}`);
    if (key === 'Retries') {
      if (!/^\d+$/.test(v)) fail(`invalid retries value: ${v}`);
      const n = Number(v);
      if (n < 1) fail('--retries cannot be 0');
      out[key] = n;
      continue;
    }
    const ns = parseGoDuration(v);
    if (ns === undefined) return fail(`time: invalid duration "${v}"`);
    if (ns !== 0 && ns < 1_000_000) fail(`Interval "${k}" cannot be less than 1ms`);
    out[key] = ns;
  }
  const command = raw.args.replace(/^\S+\s*/, '');
  if (command === '') fail('Missing command after HEALTHCHECK CMD');
  const form = commandForm(command);
  return { Test: form.json ? ['CMD', ...form.words] : ['CMD-SHELL', form.text], ...out };
}
