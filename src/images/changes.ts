import { invalidParameter } from '../lib/errors.js';
import { DockerfileError, parseInstruction, type Instruction } from '../builder/index.js';

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
    // dockerd parses the changes as the lines of a Dockerfile: the builder's parser, its
    // checks and messages (`dockerfile parse error line 1: ENV requires at least one argument`).
    let ins: Instruction;
    try {
      ins = parseInstruction(trimmed, i + 1);
    } catch (err) {
      if (err instanceof DockerfileError) throw invalidParameter(err.message, err);
      throw err;
    }
    switch (ins.kind) {
      case 'cmd':
      case 'entrypoint':
        out[ins.kind === 'cmd' ? 'Cmd' : 'Entrypoint'] = ins.command.json ? ins.command.words : ['/bin/sh', '-c', ins.command.text];
        break;
      case 'env': {
        const env = [...((out['Env'] as string[] | undefined) ?? [])];
        for (const [k, v] of keyValues(rest, 'ENV')) {
          const at = env.findIndex((e) => e.split('=', 1)[0] === k);
          if (at >= 0) env[at] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        out['Env'] = env;
        break;
      }
      case 'label': {
        const labels = { ...((out['Labels'] as Record<string, string> | undefined) ?? {}) };
        for (const [k, v] of keyValues(rest, 'LABEL')) labels[k] = v;
        out['Labels'] = labels;
        break;
      }
      case 'expose': {
        const ports = { ...((out['ExposedPorts'] as Record<string, object> | undefined) ?? {}) };
        for (const p of ins.ports) ports[p.includes('/') ? p : `${p}/tcp`] = {};
        out['ExposedPorts'] = ports;
        break;
      }
      case 'volume': {
        // A JSON form that does not parse is a list of words, as in a Dockerfile (a 500 before).
        const vols = { ...((out['Volumes'] as Record<string, object> | undefined) ?? {}) };
        for (const v of ins.paths) vols[v] = {};
        out['Volumes'] = vols;
        break;
      }
      case 'user':
        out['User'] = ins.value;
        break;
      case 'workdir':
        out['WorkingDir'] = ins.value;
        break;
      case 'stopsignal':
        out['StopSignal'] = ins.value;
        break;
      case 'healthcheck':
        out['Healthcheck'] = ins.health;
        break;
      case 'onbuild':
        out['OnBuild'] = [...((out['OnBuild'] as string[] | undefined) ?? []), ins.expression];
        break;
    }
  }
  return out;
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

