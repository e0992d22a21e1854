import { invalidParameter } from '../lib/errors.js';
import { goDuration } from '../lib/go-duration.js';

/**
 * The Dockerfile instructions `docker import --change` and `docker commit --change` accept,
 * applied to an image's runtime config (the `config` object of the image config).
 */
const ALLOWED = new Set(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);

export function applyChanges(config: Record<string, unknown>, changes: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const change of changes) {
    const trimmed = change.trim();
    if (trimmed === '') continue;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(trimmed);
    const instr = (m?.[1] ?? '').toUpperCase();
    const rest = (m?.[2] ?? '').trim();
    if (!ALLOWED.has(instr)) throw invalidParameter(`${instr} is not a valid change command`);
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
        const list = rest.startsWith('[') ? jsonArray(rest) : rest.split(/\s+/).filter(Boolean);
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

const HEALTH_FLAGS: Record<string, string> = {
  interval: 'Interval',
  timeout: 'Timeout',
  'start-period': 'StartPeriod',
  'start-interval': 'StartInterval',
  retries: 'Retries',
};

/** `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=30s ...] CMD <command>`, as the Dockerfile reads it. */
function healthcheck(rest: string): Record<string, unknown> {
  if (/^none$/i.test(rest.trim())) return { Test: ['NONE'] };
  const out: Record<string, unknown> = {};
  let s = rest.trim();
  for (let m = /^--([a-z-]+)=(\S*)\s*/.exec(s); m; m = /^--([a-z-]+)=(\S*)\s*/.exec(s)) {
    const key = HEALTH_FLAGS[m[1] as string];
    if (!key) throw invalidParameter(`Unknown flag: ${m[1] as string}`);
    const v = m[2] as string;
    if (key === 'Retries') {
      if (!/^\d+$/.test(v)) throw invalidParameter(`invalid retries value: ${v}`);
      out[key] = Number(v);
    } else out[key] = goDuration(v);
    s = s.slice(m[0].length);
  }
  const cmd = /^cmd\s+([\s\S]*)$/i.exec(s);
  if (!cmd) throw invalidParameter('Unknown type "' + (s.split(/\s+/)[0] ?? '') + '" in HEALTHCHECK (try CMD)');
  const command = (cmd[1] as string).trim();
  if (command.startsWith('[')) {
    try {
      return { Test: ['CMD', ...jsonArray(command)], ...out };
    } catch {
      // not JSON: the shell form
    }
  }
  return { Test: ['CMD-SHELL', command], ...out };
}
