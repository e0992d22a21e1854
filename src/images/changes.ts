import { invalidParameter } from '../lib/errors.js';
import { parseGoDuration } from '../lib/go-duration.js';
import { DockerfileError, parseInstruction } from '../builder/index.js';

/**
 * The Dockerfile instructions `docker import --change` and `docker commit --change` accept,
 * applied to an image's runtime config (the `config` object of the image config).
 */
const ALLOWED = new Set(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);

export function applyChanges(config: Record<string, unknown>, changes: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const [i, change] of changes.entries()) {
    const trimmed = change.trim();
    if (trimmed === '') continue;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(trimmed);
    const instr = (m?.[1] ?? '').toUpperCase();
    const rest = (m?.[2] ?? '').trim();
    if (!ALLOWED.has(instr)) throw invalidParameter(`${instr} is not a valid change command`);
    // dockerd parses the changes as the lines of a Dockerfile: the builder's checks and
    // messages (`dockerfile parse error line 1: ENV requires at least one argument`).
    try {
      parseInstruction(trimmed, i + 1);
    } catch (err) {
      if (err instanceof DockerfileError) throw invalidParameter(err.message, err);
      throw err;
    }
    switch (instr) {
      case 'CMD':
        out['Cmd'] = commandForm(rest);
        break;
      case 'ENTRYPOINT':
        out['Entrypoint'] = commandForm(rest);
        break;
      case 'ENV': {
        const env = [...((out['Env'] as string[] | undefined) ?? [])];
        for (const [k, v] of keyValues(rest, 'ENV')) {
          const i = env.findIndex((e) => e.split('=', 1)[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        out['Env'] = env;
        break;
      }
      case 'LABEL': {
        const labels = { ...((out['Labels'] as Record<string, string> | undefined) ?? {}) };
        for (const [k, v] of keyValues(rest, 'LABEL')) labels[k] = v;
        out['Labels'] = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...((out['ExposedPorts'] as Record<string, object> | undefined) ?? {}) };
        for (const p of rest.split(/\s+/).filter(Boolean)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
        out['ExposedPorts'] = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...((out['Volumes'] as Record<string, object> | undefined) ?? {}) };
        // A JSON form that does not parse is a list of words, as in a Dockerfile (a 500 before).
        const list = (rest.startsWith('[') ? maybeJsonArray(rest) : undefined) ?? rest.split(/\s+/).filter(Boolean);
        for (const v of list) vols[v] = {};
        out['Volumes'] = vols;
        break;
      }
      case 'USER':
        out['User'] = rest;
        break;
      case 'WORKDIR':
        out['WorkingDir'] = rest;
        break;
      case 'STOPSIGNAL':
        out['StopSignal'] = rest;
        break;
      case 'HEALTHCHECK':
        out['Healthcheck'] = healthcheck(rest);
        break;
      case 'ONBUILD':
        out['OnBuild'] = [...((out['OnBuild'] as string[] | undefined) ?? []), rest];
        break;
    }
  }
  return out;
}

const HEALTH_FLAGS: Record<string, string> = {
  interval: 'Interval',
  timeout: 'Timeout',
  'start-period': 'StartPeriod',
  'start-interval': 'StartInterval',
};

/** `HEALTHCHECK [--interval=…] [--timeout=…] [--start-period=…] [--start-interval=…] [--retries=N] CMD …` or `HEALTHCHECK NONE`. */
function healthcheck(rest: string): Record<string, unknown> {
  let text = rest;
  const out: Record<string, unknown> = {};
  for (;;) {
    const m = /^--([a-z-]+)=(\S*)\s*/.exec(text);
    if (!m) break;
    text = text.slice(m[0].length);
    const [, flag, value] = m as unknown as [string, string, string];
    if (flag === 'retries') {
      if (!/^\d+$/.test(value)) throw invalidParameter(`Error parsing HEALTHCHECK --retries: invalid value "${value}"`);
      out['Retries'] = Number(value);
      continue;
    }
    const key = HEALTH_FLAGS[flag];
    if (!key) throw invalidParameter(`Unknown flag: ${flag}`);
    const ns = parseGoDuration(value);
    if (ns === undefined || ns < 0) throw invalidParameter(`Error parsing HEALTHCHECK --${flag}: time: invalid duration "${value}"`);
    out[key] = ns;
  }
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text);
  const kind = (m?.[1] ?? '').toUpperCase();
  const cmd = (m?.[2] ?? '').trim();
  if (kind === 'NONE') {
    if (cmd !== '' || Object.keys(out).length > 0) throw invalidParameter('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (kind !== 'CMD') throw invalidParameter(`Unknown type "${kind}" in HEALTHCHECK (try CMD)`);
  if (cmd === '') throw invalidParameter('Missing command after HEALTHCHECK CMD');
  let test: string[] = ['CMD-SHELL', cmd];
  if (cmd.startsWith('[')) {
    try {
      test = ['CMD', ...jsonArray(cmd)];
    } catch {
      // The shell form, as for CMD.
    }
  }
  return { Test: test, ...out };
}

function commandForm(rest: string): string[] {
  if (rest.startsWith('[')) {
    try {
      return jsonArray(rest);
    } catch {
      // Docker falls back to the shell form when the JSON form does not parse.
    }
  }
  return ['/bin/sh', '-c', rest];
}

function maybeJsonArray(s: string): string[] | undefined {
  try {
    return jsonArray(s);
  } catch {
    return undefined;
  }
}

function jsonArray(s: string): string[] {
  const v: unknown = JSON.parse(s);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalidParameter(`invalid JSON array: ${s}`);
  return v as string[];
}

function unquote(s: string): string {
  if (s.length >= 2 && ((s.startsWith('"') && s.endsWith('"')) || (s.startsWith("'") && s.endsWith("'")))) {
    return s.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return s;
}

function keyValues(rest: string, instr: string): [string, string][] {
  // `ENV key value` (legacy, one pair) or `ENV k1=v1 k2="v 2"`.
  const tokens = rest.match(/(?:[^\s"']+|"(?:[^"\\]|\\.)*"|'[^']*')+/g) ?? [];
  if (tokens.length > 0 && !(tokens[0] ?? '').includes('=')) {
    const key = tokens[0] ?? '';
    return [[key, unquote(rest.slice(key.length).trim())]];
  }
  return tokens.map((t) => {
    const eq = t.indexOf('=');
    if (eq <= 0) throw invalidParameter(`${instr} names can not be blank`);
    return [t.slice(0, eq), unquote(t.slice(eq + 1))];
  });
}

