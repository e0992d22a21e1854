import { posix } from 'node:path';
import { invalidParameter } from '../lib/errors.js';
import type { Instruction } from './dockerfile/instructions.js';
import { processWord, processWords, ShellLexError, type Lookup } from './dockerfile/shell-lex.js';
import { envOf, setEnv } from './state.js';

export { envLookup } from './state.js';
import type { RunConfig } from './ports.js';

/** A word and a word list of the line, with `$VAR` substituted as the builder does. */
export type Expander = { word: (w: string) => string; words: (w: string) => string[] };

export function expander(lookup: Lookup, escape: string): Expander {
  const expand = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof ShellLexError) throw invalidParameter(err.message);
      throw err;
    }
  };
  return { word: (w) => expand(() => processWord(w, lookup, escape)), words: (w) => expand(() => processWords(w, lookup, escape)) };
}

/** `WORKDIR dir` on a config whose working directory is `current`. */
export function workdirOf(current: unknown, dir: string): string {
  const base = typeof current === 'string' && current !== '' ? current : '/';
  return posix.normalize(posix.isAbsolute(dir) ? dir : posix.join(base, dir));
}

/**
 * The instructions that only change the runtime config, applied to `c` the same way by a
 * build step and by a `commit`/`import --change` line (dockerd runs both through one
 * dispatcher). Returns the history text of the step, or undefined for any other instruction.
 */
export function changeConfig(c: RunConfig, ins: Instruction, x: Expander): string | undefined {
  switch (ins.kind) {
    case 'env': {
      let env = envOf(c);
      const pairs = ins.pairs.map(([k, v]) => [x.word(k), x.word(v)] as const);
      for (const [k, v] of pairs) env = setEnv(env, k, v);
      c['Env'] = env;
      return `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
    }
    case 'label': {
      const labels = { ...((c['Labels'] as Record<string, string> | null | undefined) ?? {}) };
      const pairs = ins.pairs.map(([k, v]) => [x.word(k), x.word(v)] as const);
      for (const [k, v] of pairs) labels[k] = v;
      c['Labels'] = labels;
      return `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
    }
    case 'user':
      c['User'] = x.word(ins.value);
      return `USER ${c['User'] as string}`;
    case 'stopsignal':
      c['StopSignal'] = x.word(ins.value);
      return `STOPSIGNAL ${c['StopSignal'] as string}`;
    case 'expose': {
      const ports = { ...((c['ExposedPorts'] as Record<string, object> | null | undefined) ?? {}) };
      const list: string[] = [];
      for (const p of ins.ports.flatMap((w) => x.words(w))) {
        if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw invalidParameter(`invalid containerPort: ${p.split('/')[0] as string}`);
        const key = p.includes('/') ? p.toLowerCase() : `${p}/tcp`;
        ports[key] = {};
        list.push(key);
      }
      c['ExposedPorts'] = ports;
      return `EXPOSE ${list.sort().join(' ')}`;
    }
    case 'volume': {
      const vols = { ...((c['Volumes'] as Record<string, object> | null | undefined) ?? {}) };
      const list = ins.paths.map((p) => x.word(p));
      for (const v of list) {
        if (v.trim() === '') throw invalidParameter('VOLUME specified can not be an empty string');
        vols[v] = {};
      }
      c['Volumes'] = vols;
      return `VOLUME [${list.join(' ')}]`;
    }
    case 'healthcheck':
      c['Healthcheck'] = ins.health;
      return `HEALTHCHECK ${JSON.stringify(ins.health)}`;
    case 'onbuild': {
      const trigger = ins.expression.replace(/^(\S+)/, (k) => k.toUpperCase());
      c['OnBuild'] = [...((c['OnBuild'] as string[] | null | undefined) ?? []), trigger];
      return `ONBUILD ${trigger}`;
    }
    default:
      return undefined;
  }
}
