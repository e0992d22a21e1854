import { createReadStream } from 'node:fs';
import { chmod, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { decompressed, extractTar, isTarArchive } from '../storage/index.js';
import { resolveInRoot } from '../lib/in-root.js';
import { fsErrorText, underRoot } from '../lib/fs-error-text.js';
import { StepPaths } from './step-paths.js';
import { BerthError, invalidParameter, messageOf, systemError } from '../lib/errors.js';
import { shortId } from '../lib/ids.js';
import { parseTrigger, type CommandForm, type Instruction } from './dockerfile/instructions.js';
import { copySources, ensureDir, findSources, sourcesDigest, type Owner, type Source } from './copy.js';
import { argEnv, envOf, lookupIn, shellOf, type StageState } from './state.js';
import { changeConfig, expander, workdirOf } from './config-change.js';
import type { BuildCache } from './cache.js';
import type { BuildHost, RunConfig } from './ports.js';

/** What a step needs of the build it is part of. */
export type StepEnv = {
  host: BuildHost;
  contextDir: string;
  escape: string;
  /** Where a step's earlier result is found (`--no-cache`, `--cache-from` applied). */
  cache: BuildCache;
  rm: boolean;
  forceRm: boolean;
  networkMode: string;
  shmSize?: number;
  extraHosts: string[];
  say(text: string): void;
  output(stream: 'stdout' | 'stderr', data: Buffer): void;
  /** A previous stage's image by name or index, for `COPY --from`. */
  stageImage(ref: string): string | undefined;
  /** An image by name, pulled if missing. */
  image(ref: string): Promise<string>;
  /** Build args given by the client (consumed ones are marked). */
  buildArgs: Map<string, string | null>;
  consumed: Set<string>;
  signal: AbortSignal;
  /** Containers kept after a failed step (their ids), for the caller's report. */
  failedContainer?: string;
};

export class StepFailure extends BerthError {
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super('InvalidParameter', message);
    this.code = code;
  }
}

/** Run one instruction on the stage: a cache hit, a metadata commit, or a container. */
export async function dispatch(e: StepEnv, s: StageState, ins: Instruction): Promise<void> {
  // Looked up at each word: an ARG's default sees the ARGs before it on its line.
  const x = expander((n) => lookupIn(s)(n), e.escape);
  const { word } = x;
  const c: RunConfig = { ...s.config };
  const text = changeConfig(c, ins, x);
  if (text !== undefined) return metadata(e, s, c, text);
  switch (ins.kind) {
    case 'from':
      throw invalidParameter('FROM inside a stage');
    case 'run':
      return run(e, s, ins.command);
    case 'copy':
    case 'add':
      return copy(e, s, ins, word);
    case 'workdir': {
      c['WorkingDir'] = workdirOf(c['WorkingDir'], word(ins.value));
      // dockerd's words, without its own paths: `lstat /f/sub: not a directory`.
      return withContainer(e, s, c, `WORKDIR ${c['WorkingDir'] as string}`, { paths: new StepPaths(), prefix: '' }, async (rootfs) =>
        ensureDir(rootfs, c['WorkingDir'] as string, { owner: { uid: 0, gid: 0 } }),
      );
    }
    case 'arg':
      for (const a of ins.args) {
        const given = e.buildArgs.get(a.name);
        e.consumed.add(a.name);
        const value = given !== undefined && given !== null ? given : a.value !== undefined ? word(a.value) : s.args.get(a.name);
        s.args.set(a.name, value);
      }
      return metadata(e, s, c, `ARG ${ins.args.map((a) => (a.value !== undefined ? `${a.name}=${a.value}` : a.name)).join(' ')}`);
    case 'maintainer':
      s.author = ins.value;
      return metadata(e, s, c, `MAINTAINER ${ins.value}`);
    case 'cmd':
      c['Cmd'] = commandWords(s, ins.command);
      s.cmdSet = true;
      return metadata(e, s, c, `CMD ${JSON.stringify(c['Cmd'])}`);
    case 'entrypoint':
      c['Entrypoint'] = commandWords(s, ins.command);
      if (!s.cmdSet) c['Cmd'] = null;
      return metadata(e, s, c, `ENTRYPOINT ${JSON.stringify(c['Entrypoint'])}`);
    case 'shell':
      c['Shell'] = ins.shell;
      return metadata(e, s, c, `SHELL ${JSON.stringify(ins.shell)}`);
  }
}

/** The base image's ONBUILD triggers, run as the first steps of the stage using it. */
export async function runTriggers(e: StepEnv, s: StageState): Promise<void> {
  const triggers = (s.config['OnBuild'] as string[] | null | undefined) ?? [];
  if (triggers.length === 0) return;
  e.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}`);
  e.say('\n');
  s.config = { ...s.config, OnBuild: null };
  for (const t of triggers) {
    const ins = parseTrigger(t, 0);
    if (ins.kind === 'onbuild' || ins.kind === 'from') throw invalidParameter(`${ins.kind.toUpperCase()} isn't allowed as an ONBUILD trigger`);
    await dispatch(e, s, ins);
  }
}

function commandWords(s: StageState, cmd: CommandForm): string[] {
  return cmd.json ? cmd.words : [...shellOf(s.config), cmd.text];
}

/** The classic builder's record of a step that is not a command: `/bin/sh -c #(nop) ` then the step. */
function nopCmd(s: StageState, text: string): string[] {
  return [...shellOf(s.config), '#(nop) ', text];
}

/** A cached result of this step on this parent (`key` its cache key, `config` the config it leaves). */
async function probe(e: StepEnv, s: StageState, key: RunConfig, config: RunConfig): Promise<string | undefined> {
  const hit = await e.cache.probe(s.imageId, key, config);
  if (hit) e.say(' ---> Using cache\n');
  return hit;
}

function created(s: StageState, key: RunConfig): string {
  return ((key['Cmd'] as string[] | undefined) ?? []).join(' ');
}

/** A step that changes only the config: an image without a layer, as Docker. */
async function metadata(e: StepEnv, s: StageState, c: RunConfig, text: string): Promise<void> {
  const key = { ...c, Cmd: nopCmd(s, text) };
  const hit = await probe(e, s, key, c);
  s.config = c;
  if (hit) {
    s.imageId = hit;
    return;
  }
  s.imageId = await e.host.images.commit({
    ...(s.imageId ? { parentId: s.imageId } : {}),
    config: c,
    containerConfig: key,
    createdBy: created(s, key),
    ...(s.author ? { author: s.author } : {}),
  });
}

async function run(e: StepEnv, s: StageState, command: CommandForm): Promise<void> {
  if (!s.imageId) throw invalidParameter('Please provide a source image with `from` prior to run');
  const cmd = commandWords(s, command);
  const args = argEnv(s);
  const keyCmd = args.length > 0 ? [`|${args.length}`, ...args, ...cmd] : cmd;
  const key = { ...s.config, Cmd: keyCmd };
  const hit = await probe(e, s, key, s.config);
  if (hit) {
    s.imageId = hit;
    return;
  }
  const id = await e.host.containers.create({
    image: s.imageId,
    cmd,
    env: [...envOf(s.config), ...args],
    user: typeof s.config['User'] === 'string' ? (s.config['User'] as string) : '',
    workingDir: typeof s.config['WorkingDir'] === 'string' ? (s.config['WorkingDir'] as string) : '',
    networkMode: e.networkMode,
    ...(e.shmSize ? { shmSize: e.shmSize } : {}),
    extraHosts: e.extraHosts,
    labels: {},
  });
  e.say(` ---> Running in ${shortId(id)}\n`);
  let code: number;
  try {
    code = await e.host.containers.run(id, e.output, e.signal);
  } catch (err) {
    await keepOrRemove(e, id, false);
    throw err;
  }
  if (code !== 0) {
    await keepOrRemove(e, id, false);
    throw new StepFailure(`The command '${cmd.join(' ')}' returned a non-zero code: ${code}`, code);
  }
  let image: string;
  try {
    image = await e.host.images.commit({ parentId: s.imageId, config: s.config, containerConfig: key, createdBy: keyCmd.join(' '), containerId: id, ...(s.author ? { author: s.author } : {}) });
  } catch (err) {
    await keepOrRemove(e, id, false);
    throw err;
  }
  await keepOrRemove(e, id, true);
  s.imageId = image;
}

/** After a step: its container goes (`rm`, the default), a failed one stays unless `forcerm`. */
async function keepOrRemove(e: StepEnv, id: string, ok: boolean): Promise<void> {
  if (ok ? e.rm || e.forceRm : e.forceRm) {
    if (ok) e.say(`Removing intermediate container ${shortId(id)}\n`);
    await e.host.containers.remove(id);
  } else if (!ok) e.failedContainer = id;
}

/**
 * A step whose change is made to the filesystem by berthd (COPY, ADD, WORKDIR): a container
 * not run. A failed file system call in `change` is reported with `report.prefix` and the
 * paths as the image knows them (`report.paths`, the rootfs added to them).
 */
async function withContainer(
  e: StepEnv,
  s: StageState,
  c: RunConfig,
  text: string,
  report: { paths: StepPaths; prefix: string },
  change: (rootfs: string) => Promise<void>,
): Promise<void> {
  const changeIn = (rootfs: string) => {
    report.paths.add(rootfs, true);
    return report.paths.run(report.prefix, () => change(rootfs));
  };
  const key = { ...c, Cmd: nopCmd(s, text) };
  const hit = await probe(e, s, key, c);
  if (hit) {
    s.config = c;
    s.imageId = hit;
    return;
  }
  const createdBy = created(s, key);
  const author = s.author ? { author: s.author } : {};
  if (!s.imageId) {
    // Nothing to start a container from (`FROM scratch`): the first layer is made in a directory of its own.
    const dir = await mkdtemp(join(await e.host.scratchDir(), 'layer-'));
    await chmod(dir, 0o755);
    try {
      await changeIn(dir);
      s.imageId = await e.host.images.commit({ config: c, containerConfig: key, createdBy, layer: () => e.host.tarDirectory(dir), ...author });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    s.config = c;
    return;
  }
  const id = await e.host.containers.create({
    image: s.imageId,
    cmd: key['Cmd'] as string[],
    env: envOf(c),
    user: '',
    workingDir: '',
    networkMode: 'none',
    extraHosts: [],
    labels: {},
  });
  try {
    await e.host.containers.withRootfs(id, changeIn);
    s.imageId = await e.host.images.commit({ parentId: s.imageId, config: c, containerConfig: key, createdBy, containerId: id, ...author });
    s.config = c;
  } finally {
    await e.host.containers.remove(id);
  }
}

async function copy(e: StepEnv, s: StageState, ins: Extract<Instruction, { kind: 'copy' | 'add' }>, word: (w: string) => string): Promise<void> {
  const KW = ins.kind.toUpperCase();
  const srcs = ins.sources.map(word);
  let dest = word(ins.dest);
  const wd = typeof s.config['WorkingDir'] === 'string' && s.config['WorkingDir'] !== '' ? (s.config['WorkingDir'] as string) : '/';
  const trailing = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
  if (!posix.isAbsolute(dest)) dest = posix.join(wd, dest);
  if (trailing && !dest.endsWith('/')) dest += '/';
  const chmod = ins.chmod !== undefined ? parseInt(ins.chmod, 8) : undefined;

  const fromRef = ins.kind === 'copy' && ins.from ? word(ins.from) : undefined;
  const fromImage = fromRef !== undefined ? await fromFlagImage(e, fromRef) : undefined;
  const paths = new StepPaths();
  paths.add(e.contextDir, false);
  const sourceRoot = async <T>(fn: (root: string) => Promise<T>): Promise<T> => {
    if (fromImage === undefined) return fn(e.contextDir);
    const cid = await e.host.containers.create({ image: fromImage, cmd: ['#(nop)'], env: [], user: '', workingDir: '', networkMode: 'none', extraHosts: [], labels: {} });
    try {
      return await e.host.containers.withRootfs(cid, (root) => {
        paths.add(root, true);
        return fn(root);
      });
    } finally {
      await e.host.containers.remove(cid);
    }
  };

  // Downloads (ADD of a URL) land in the context's scratch space, never in the context itself.
  const local: string[] = [];
  const downloads: Source[] = [];
  for (const src of srcs) {
    if (ins.kind === 'add' && /^https?:\/\//i.test(src)) downloads.push(await download(e, src));
    else local.push(src);
  }
  const digestOf = async (root: string) => {
    const found = local.length > 0 ? await findSources(root, local, KW, fromImage === undefined ? 'context' : 'image') : [];
    const all = [...found, ...downloads];
    const kind = all.length > 1 ? 'multi' : all[0]?.dir ? 'dir' : 'file';
    return `${kind}:${await sourcesDigest(all)}`;
  };
  const sum = await paths.run(`${KW} failed: `, () => sourceRoot(digestOf));
  const flags = [ins.chown ? `--chown=${ins.chown}` : '', ins.chmod ? `--chmod=${ins.chmod}` : '', fromRef !== undefined ? `--from=${fromRef}` : ''].filter(Boolean).join(' ');
  const text = `${KW} ${flags ? `${flags} ` : ''}${sum} in ${dest} `;
  await withContainer(e, s, { ...s.config }, text, { paths, prefix: 'failed to copy files: ' }, async (rootfs) => {
    // As dockerd: root's unless --chown; from another image or stage the files keep their owners.
    const owner = ins.chown ? await resolveOwner(rootfs, word(ins.chown)) : fromRef !== undefined ? ('preserve' as const) : { uid: 0, gid: 0 };
    await sourceRoot(async (root) => {
      const found = local.length > 0 ? await findSources(root, local, KW, fromImage === undefined ? 'context' : 'image') : [];
      const all = [...found, ...downloads];
      if (ins.kind === 'add') {
        const plain: Source[] = [];
        for (const src of all) {
          if (!src.dir && !downloads.includes(src) && (await isTarArchive(createReadStream(src.host)))) {
            const to = dest.endsWith('/') ? dest : `${dest}/`;
            await ensureDir(rootfs, to, { owner });
            await addArchive(src.host, await resolveInRoot(rootfs, to), e.signal);
          } else plain.push(src);
        }
        if (plain.length > 0) await copySources(rootfs, plain, dest, { owner, ...(chmod !== undefined ? { chmod } : {}) }, KW);
        return;
      }
      await copySources(rootfs, all, dest, { owner, ...(chmod !== undefined ? { chmod } : {}) }, KW);
    });
  });
}

/**
 * ADD of a local archive (plain, gzip, bzip2, xz or zstd), unpacked as dockerd does: chrooted
 * into the destination (`..`, absolute names and symlinks stay inside it; hardlinks must find
 * their target there), whiteout entries written as files (the step's commit then reads them
 * as its layer's whiteouts, as dockerd's does). Refusals read as dockerd's: `failed to copy files: …`.
 */
async function addArchive(file: string, dest: string, signal: AbortSignal): Promise<void> {
  try {
    await extractTar(await decompressed(createReadStream(file)), dest, { confine: 'chroot', whiteouts: 'plain', signal });
  } catch (err) {
    if (signal.aborted || !(err instanceof BerthError)) throw err;
    const message = `failed to copy files: Error processing tar file: ${err.message}`;
    throw err.kind === 'InvalidParameter' ? invalidParameter(message) : systemError(message, err);
  }
}

/** ADD of an http(s) URL: fetched into the build's scratch space, 0600, named after the URL's last path part. */
async function download(e: StepEnv, url: string): Promise<Source> {
  let res: Response;
  try {
    res = await fetch(url, { signal: e.signal, redirect: 'follow' });
  } catch (err) {
    throw invalidParameter(`ADD failed: ${url}: ${messageOf((err as { cause?: unknown }).cause ?? err)}`);
  }
  if (!res.ok || !res.body) throw invalidParameter(`ADD failed: ${url}: got HTTP status code ${res.status}`);
  const name = posix.basename(new URL(url).pathname) || 'download';
  const dir = await mkdtemp(join(await e.host.scratchDir(), 'add-'));
  const file = join(dir, name);
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), (await open(file, 'w', 0o600)).createWriteStream());
  return { host: file, rel: name, dir: false };
}

/**
 * `--chown=user:group` as dockerd's parseChownFlag reads it: each a number, or a name looked up
 * in the image's /etc/passwd and /etc/group; without `:group` the user's string is the group's
 * too (`--chown=app` wants a group named app, not app's primary group).
 */
async function resolveOwner(rootfs: string, spec: string): Promise<Owner> {
  const fail = (why: string) => invalidParameter(`unable to convert uid/gid chown string to host mapping: ${why}`);
  const parts = spec.split(':');
  if (parts.length > 2) throw fail(`invalid chown string format: ${spec}`);
  const [user = '', group = user] = parts;
  const lookup = async (name: string, file: string, id: 'uid' | 'gid', noun: 'user' | 'group'): Promise<number> => {
    if (/^[+-]?\d+$/.test(name)) return Number(name);
    const why = `can't find ${id} for ${noun} ${name}`;
    let text: string;
    try {
      text = await readFile(await resolveInRoot(rootfs, file), 'utf8');
    } catch (err) {
      throw fail(`${why}: ${fsErrorText(err, underRoot(rootfs)) ?? messageOf(err)}`);
    }
    const row = text.split('\n').map((l) => l.split(':')).find((r) => r[0] === name);
    if (!row || row[2] === undefined) throw fail(`${why}: no such ${noun}: ${name}`);
    return Number(row[2]);
  };
  return { uid: await lookup(user, '/etc/passwd', 'uid', 'user'), gid: await lookup(group, '/etc/group', 'gid', 'group') };
}

/**
 * `COPY --from`: a stage built before this one (by name, or by index: this stage's own and
 * later ones refused as dockerd refuses them), else an image, pulled if missing. Failures read
 * `invalid from flag value <ref>: …`, as dockerd's.
 */
async function fromFlagImage(e: StepEnv, ref: string): Promise<string> {
  try {
    return e.stageImage(ref) ?? (await e.image(ref));
  } catch (err) {
    if (!(err instanceof BerthError) || e.signal.aborted) throw err;
    throw new BerthError(err.kind, `invalid from flag value ${ref}: ${err.message}`, { cause: err });
  }
}

