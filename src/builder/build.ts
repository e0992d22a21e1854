import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { invalidParameter } from '../lib/errors.js';
import { shortId } from '../lib/ids.js';
import { receiveContext } from './context.js';
import { DockerfileError } from './dockerfile/parser.js';
import { parse, type Dockerfile, type Instruction, type Stage } from './dockerfile/instructions.js';
import { processWord, ShellLexError } from './dockerfile/shell-lex.js';
import { dispatch, runTriggers, type StepEnv } from './steps.js';
import { BuildCache } from './cache.js';
import type { StageState } from './state.js';
import type { BuildHost } from './ports.js';

export type BuildOptions = {
  dockerfile?: string;
  tags: string[];
  buildArgs: Record<string, string | null>;
  labels: Record<string, string>;
  target?: string;
  noCache: boolean;
  pull: boolean;
  rm: boolean;
  forceRm: boolean;
  quiet: boolean;
  networkMode: string;
  shmSize?: number;
  extraHosts: string[];
  platform?: string;
  cacheFrom: string[];
  /** X-Registry-Config as it came: the credentials every pull of the build picks from. */
  registryConfig?: string;
  /** X-Registry-Auth as it came, for clients that send no X-Registry-Config. */
  auth?: string;
};

/** Where the build's messages go: the `stream` lines the CLI prints, `aux` records, pull progress. */
export type BuildOutput = {
  stream(text: string): void;
  aux(value: Record<string, unknown>): void;
  /** Passed through to the image service's pull (its progress events). */
  pullProgress: unknown;
};

/** Args Docker lets through without an ARG (proxies): never reported as unconsumed. */
const PREDEFINED = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);

/**
 * One `docker build` with the classic builder's model: each step's result is an image whose
 * parent is the previous step's, found again by the cache; RUN runs in a container. Returns
 * the final image's id; tags are set only once every step has succeeded.
 */
export async function build(host: BuildHost, body: Readable, o: BuildOptions, out: BuildOutput, signal: AbortSignal): Promise<string> {
  if (!o.quiet) return runBuild(host, body, o, out, signal);
  // -q, as dockerd's notVerboseBuffer: what the build says is held back and sent only if it
  // fails, before the error (the CLI prints both then); on success only the image id.
  let held = '';
  const quiet: BuildOutput = {
    stream: (t) => {
      held += t;
      if (held.length > QUIET_HELD_MAX) held = held.slice(-QUIET_HELD_MAX);
    },
    aux: (v) => out.aux(v),
    pullProgress: out.pullProgress,
  };
  try {
    const id = await runBuild(host, body, o, quiet, signal);
    out.stream(`${id}\n`);
    return id;
  } catch (err) {
    if (held !== '') out.stream(held);
    throw err;
  }
}

/** What -q holds back at most: the end of it, where a failure's context is. */
const QUIET_HELD_MAX = 1 << 20;

async function runBuild(host: BuildHost, body: Readable, o: BuildOptions, out: BuildOutput, signal: AbortSignal): Promise<string> {
  if (o.platform && !/^linux(\/amd64)?$/.test(o.platform.toLowerCase())) {
    throw invalidParameter(`"${o.platform}": berth builds only linux/amd64 images`);
  }
  const tags = o.tags.map((t) => host.images.normalizeTag(t));
  const dir = join(await host.scratchDir(), 'context');
  await mkdir(dir, { mode: 0o700 });
  const ctx = await receiveContext(body, dir, o.dockerfile, signal);
  const df = parseOrExplain(ctx.dockerfile, ctx.dockerfileName);
  const stages = neededStages(df, o.target);
  const last = stages[stages.length - 1] as Stage;
  if (Object.keys(o.labels).length > 0) {
    // As the classic builder: the build's labels are one more LABEL step at the end.
    const text = `LABEL ${Object.entries(o.labels).map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ')}`;
    last.steps.push({ kind: 'label', pairs: Object.entries(o.labels).map(([k, v]) => [JSON.stringify(k), JSON.stringify(v)]), line: 0, original: text });
  }
  const say = (t: string) => out.stream(t);
  const buildArgs = new Map(Object.entries(o.buildArgs));
  const consumed = new Set<string>();
  const meta = new Map<string, string | undefined>();
  for (const a of df.metaArgs) {
    const given = buildArgs.get(a.name);
    consumed.add(a.name);
    meta.set(a.name, given !== undefined && given !== null ? given : a.value !== undefined ? expand(a.value, meta, df.escape) : undefined);
  }
  const results = new Map<number, string>();
  const stageImage = (ref: string): string | undefined => {
    const s = /^\d+$/.test(ref) ? df.stages[Number(ref)] : df.stages.find((x) => x.name === ref.toLowerCase());
    return s ? results.get(s.index) : undefined;
  };
  let current = 0;
  // COPY --from by index, as dockerd's stagesBuildResults.get: only stages before this one.
  const fromStage = (ref: string): string | undefined => {
    if (/^\d+$/.test(ref) && Number(ref) === current) throw invalidParameter('refers to current build stage');
    if (/^\d+$/.test(ref) && Number(ref) > current) throw invalidParameter('index out of bounds');
    return stageImage(ref);
  };
  const e: StepEnv = {
    host,
    contextDir: ctx.dir,
    escape: df.escape,
    cache: new BuildCache(host.images, { noCache: o.noCache, cacheFrom: o.cacheFrom }),
    rm: o.rm,
    forceRm: o.forceRm,
    networkMode: o.networkMode,
    ...(o.shmSize ? { shmSize: o.shmSize } : {}),
    extraHosts: o.extraHosts,
    say,
    output: (stream, data) => say(stream === 'stderr' ? `\u001b[91m${data.toString()}\u001b[0m` : data.toString()),
    stageImage: fromStage,
    image: (ref) => baseImage(host, ref, o, out, signal),
    buildArgs,
    consumed,
    signal,
  };
  const total = df.metaArgs.length + stages.reduce((n, s) => n + 1 + s.steps.length, 0);
  let n = 0;
  const step = (ins: Instruction | Stage['from']) => {
    say(`Step ${++n}/${total} : ${ins.original}`);
    say('\n');
  };
  for (const a of df.metaArgs) step({ kind: 'arg', args: [a], line: 0, original: `ARG ${a.value !== undefined ? `${a.name}=${a.value}` : a.name}` });
  let imageId = '';
  for (const stage of stages) {
    current = stage.index;
    step(stage.from);
    const name = expand(stage.from.image, meta, df.escape);
    const s: StageState = { imageId: undefined, config: {}, args: new Map(), cmdSet: false };
    if (name.toLowerCase() !== 'scratch') {
      const prev = stageImage(name);
      s.imageId = prev ?? (await baseImage(host, name, o, out, signal));
      const base = host.images.find(s.imageId);
      s.config = { ...(base?.config ?? {}) };
    }
    say(` ---> ${s.imageId ? shortId(s.imageId) : 'scratch'}\n`);
    const metaOf = (k: string) => meta.get(k);
    await runTriggers(e, s);
    for (const ins of stage.steps) {
      step(ins);
      // A stage's ARG without a value takes the meta ARG's.
      if (ins.kind === 'arg') for (const a of ins.args) if (a.value === undefined && metaOf(a.name) !== undefined && !buildArgs.has(a.name)) s.args.set(a.name, metaOf(a.name));
      await dispatch(e, s, ins);
      say(` ---> ${s.imageId ? shortId(s.imageId) : 'scratch'}\n`);
    }
    if (!s.imageId) throw invalidParameter('No image was generated. Is your Dockerfile empty?');
    results.set(stage.index, s.imageId);
    imageId = s.imageId;
    out.aux({ ID: imageId });
  }
  const unused = [...buildArgs.keys()].filter((k) => !consumed.has(k) && !PREDEFINED.has(k)).sort();
  if (unused.length > 0) say(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
  say(`Successfully built ${shortId(imageId)}\n`);
  for (const t of tags) {
    await host.images.tag(imageId, t);
    say(`Successfully tagged ${t}\n`);
  }
  return imageId;
}

function parseOrExplain(text: string, name: string): Dockerfile {
  try {
    return parse(text, name);
  } catch (err) {
    if (err instanceof DockerfileError) throw invalidParameter(err.message);
    throw err;
  }
}

function expand(word: string, vars: Map<string, string | undefined>, escape: string): string {
  try {
    return processWord(word, (k) => vars.get(k), escape);
  } catch (err) {
    if (err instanceof ShellLexError) throw invalidParameter(err.message);
    throw err;
  }
}

/**
 * The stages the target needs (the last stage without one): itself and, transitively, the
 * stages it starts FROM or COPYs --from. The others are skipped.
 */
export function neededStages(df: Dockerfile, target: string | undefined): Stage[] {
  let goal = df.stages[df.stages.length - 1] as Stage;
  if (target) {
    const t = df.stages.find((s) => s.name === target.toLowerCase());
    if (!t) throw invalidParameter(`failed to reach build target ${target} in Dockerfile`);
    goal = t;
  }
  const need = new Set<number>();
  const byRef = (ref: string, before: number): Stage | undefined => {
    const s = /^\d+$/.test(ref) ? df.stages[Number(ref)] : df.stages.find((x) => x.name === ref.toLowerCase());
    return s && s.index < before ? s : undefined;
  };
  const visit = (s: Stage) => {
    if (need.has(s.index)) return;
    need.add(s.index);
    const from = byRef(s.from.image, s.index);
    if (from) visit(from);
    for (const ins of s.steps) {
      if (ins.kind !== 'copy' || !ins.from) continue;
      const dep = byRef(ins.from, s.index);
      if (dep) visit(dep);
    }
  };
  visit(goal);
  return df.stages.filter((s) => need.has(s.index) && s.index <= goal.index);
}

/**
 * A FROM or COPY --from image by name: the local one unless `pull` or missing, else pulled
 * with the request's credentials. As dockerd, a `--pull` that fails fails the build (the
 * local image is not taken instead).
 */
async function baseImage(host: BuildHost, ref: string, o: BuildOptions, out: BuildOutput, signal: AbortSignal): Promise<string> {
  const local = host.images.find(ref);
  if (local && !o.pull) return local.id;
  await host.images.pull(ref, {
    ...(o.platform ? { platform: o.platform } : {}),
    ...(o.registryConfig ? { registryConfig: o.registryConfig } : {}),
    ...(o.auth ? { auth: o.auth } : {}),
    progress: out.pullProgress,
    signal,
  });
  const pulled = host.images.find(ref);
  if (!pulled) throw invalidParameter(`pull access denied for ${ref}`);
  return pulled.id;
}
