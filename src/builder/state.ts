import type { RunConfig } from './ports.js';

/** Where a stage stands between two steps: its image so far and its runtime config. */
export type StageState = {
  /** Undefined until the stage has an image (`FROM scratch` before its first layer). */
  imageId: string | undefined;
  config: RunConfig;
  /** ARGs declared in this stage, with the value a step sees (undefined: declared, no value). */
  args: Map<string, string | undefined>;
  /** Whether this stage set CMD (ENTRYPOINT resets an inherited CMD otherwise, as Docker). */
  cmdSet: boolean;
  author?: string;
};

export function envOf(config: RunConfig): string[] {
  return Array.isArray(config['Env']) ? (config['Env'] as string[]) : [];
}

export function shellOf(config: RunConfig): string[] {
  const s = config['Shell'];
  return Array.isArray(s) && s.length > 0 ? (s as string[]) : ['/bin/sh', '-c'];
}

/** Set `k=v` in an env list, replacing an earlier value of k in place. */
export function setEnv(env: string[], k: string, v: string): string[] {
  const out = [...env];
  const i = out.findIndex((e) => e.split('=', 1)[0] === k);
  if (i >= 0) out[i] = `${k}=${v}`;
  else out.push(`${k}=${v}`);
  return out;
}

/** What substitution sees in a config alone (commit/import `--change`): its Env. */
export function envLookup(config: RunConfig): (name: string) => string | undefined {
  const env = new Map<string, string>();
  for (const e of envOf(config)) {
    const eq = e.indexOf('=');
    env.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? '' : e.slice(eq + 1));
  }
  return (n) => env.get(n);
}

/** What substitution sees: the stage's ENV, then its ARGs with values (ENV wins, as Docker). */
export function lookupIn(s: StageState): (name: string) => string | undefined {
  const env = envLookup(s.config);
  return (n) => env(n) ?? s.args.get(n);
}

/** `A=1 B=2` of the ARGs with values that ENV does not shadow, sorted: what RUN gets and is keyed by. */
export function argEnv(s: StageState): string[] {
  const inEnv = new Set(envOf(s.config).map((e) => e.split('=', 1)[0]));
  return [...s.args]
    .filter(([k, v]) => v !== undefined && !inEnv.has(k))
    .map(([k, v]) => `${k}=${v as string}`)
    .sort();
}

/** The parts of a config the classic builder's cache compares, in a stable spelling. */
export function cacheKey(c: RunConfig): string {
  const pick = ['Cmd', 'Entrypoint', 'Env', 'ExposedPorts', 'Healthcheck', 'Labels', 'OnBuild', 'Shell', 'StopSignal', 'User', 'Volumes', 'WorkingDir'];
  const norm = (v: unknown): unknown => {
    if (v === null || v === undefined || v === '') return undefined;
    if (Array.isArray(v)) return v.length === 0 ? undefined : v.map(norm);
    if (typeof v === 'object') {
      const keys = Object.keys(v as object).sort();
      if (keys.length === 0) return undefined;
      return Object.fromEntries(keys.map((k) => [k, norm((v as Record<string, unknown>)[k]) ?? null]));
    }
    return v;
  };
  return JSON.stringify(pick.map((k) => norm(c[k]) ?? null));
}
