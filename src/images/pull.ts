import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LayerStore } from '../storage/index.js';
import { BerthError, invalidParameter, isKind, messageOf, notFound, unavailable } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { chainIds } from './load.js';
import {
  CONFIG_TYPES,
  DIGEST_RE,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
  LAYER_TYPES,
  MANIFEST_ACCEPT,
  MT,
  hostPlatform,
  platformMatches,
  platformString,
  type Descriptor,
  type Platform,
} from './media-types.js';
import { byteProgress, shortDigest, type Progress } from './progress.js';
import { familiarName, familiarString, fullName, fullString, type ImageRef } from './reference.js';
import { RegistryError, type Credentials, type Registries, type RepoClient } from './registry/index.js';
import { describeNetworkError } from './registry/index.js';
import type { ImageConfig } from './image-store.js';

export type PullDeps = {
  registries: Registries;
  layers: LayerStore;
  /** Scratch space under the data root (downloads land there, then move into the blob store). */
  tmpDir: string;
  pin(chainIds: string[]): () => void;
  layerInUse(chainId: string): boolean;
  /**
   * Store the image and point `tag` (if any) and `digestRef` at it. Returns whether the tag
   * is new or moved (dockerd's "Downloaded newer image" versus "Image is up to date").
   */
  commit(img: { id: string; raw: string }, refs: { tag?: string; digestRef: string }): Promise<boolean>;
  /** Where a pulled blob came from, for later cross-repository mounts. */
  recordSource(digest: string, repo: string): void;
  log: Logger;
};

export type PullRequest = {
  ref: ImageRef;
  /** Every tag of the repository (`docker pull -a`). */
  all: boolean;
  platform?: Platform;
  creds?: Credentials;
  progress: Progress;
  signal?: AbortSignal;
};

const MAX_CONFIG = 16 * 1024 * 1024;
const ATTEMPTS = 5;

/** `docker pull`: one tag or digest, or every tag of a repository. */
export async function pull(req: PullRequest, deps: PullDeps): Promise<void> {
  const { ref } = req;
  const sig = req.signal ? { signal: req.signal } : {};
  await deps.registries.withRepo(
    ref.domain,
    ref.path,
    req.creds,
    ['pull'],
    async (client) => {
      if (!req.all) {
        const fresh = await pullOne(client, ref, req, deps);
        req.progress({ kind: 'message', status: `Status: ${fresh ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarString(ref)}` });
        return;
      }
      let fresh = false;
      const tags = await client.tags(req.signal).catch((err: unknown) => {
        throw translate(err, ref);
      });
      if (tags.length === 0) throw notFound(`repository ${familiarName(ref)} has no tags`);
      for (const tag of tags) fresh = (await pullOne(client, { ...ref, tag }, req, deps)) || fresh;
      req.progress({ kind: 'message', status: `Status: ${fresh ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarName(ref)}` });
    },
    sig,
  );
}

type ImageManifest = { config: Descriptor; layers: Descriptor[]; digest: string };

async function pullOne(client: RepoClient, ref: ImageRef, req: PullRequest, deps: PullDeps): Promise<boolean> {
  const tagOrDigest = ref.digest ?? ref.tag ?? 'latest';
  let m;
  try {
    m = await client.manifest(tagOrDigest, MANIFEST_ACCEPT, req.signal);
  } catch (err) {
    throw translate(err, ref);
  }
  if (ref.digest && m.digest !== ref.digest) {
    throw invalidParameter(`manifest verification failed for digest ${ref.digest}: the registry sent content with digest ${m.digest}`);
  }
  const parsed = parseManifest(m.body, m.mediaType, ref);
  req.progress({ kind: 'message', id: tagOrDigest, status: `Pulling from ${familiarName(ref)}` });
  const want = req.platform ?? hostPlatform();
  let manifest: ImageManifest;
  if (parsed.kind === 'index') {
    const entry = parsed.manifests.find((e) => e.platform?.os !== 'unknown' && platformMatches(e.platform, want));
    if (!entry) throw notFound(`no matching manifest for ${platformString(want)} in the manifest list entries`);
    const sub = await client.manifest(entry.digest, MANIFEST_ACCEPT, req.signal).catch((err: unknown) => {
      throw translate(err, ref);
    });
    if (sub.digest !== entry.digest) throw invalidParameter(`manifest verification failed for digest ${entry.digest}`);
    const p = parseManifest(sub.body, sub.mediaType || entry.mediaType || '', ref);
    if (p.kind !== 'image') throw invalidParameter(`manifest list ${m.digest} points at another manifest list`);
    manifest = { ...p, digest: m.digest };
  } else manifest = { ...parsed, digest: m.digest };

  const { raw, config } = await fetchConfig(client, manifest.config, req.signal);
  if (req.platform && parsed.kind === 'image') {
    const actual = { os: config.os ?? 'linux', architecture: config.architecture ?? '', ...(typeof config['variant'] === 'string' ? { variant: config['variant'] } : {}) };
    if (!platformMatches(actual, want)) {
      throw notFound(`image with reference ${familiarString(ref)} was found but its platform (${platformString(actual)}) does not match the specified platform (${platformString(want)})`);
    }
  }
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (config.rootfs?.type !== 'layers' || !diffIds.every((d) => typeof d === 'string' && DIGEST_RE.test(d))) {
    throw invalidParameter(`image config ${manifest.config.digest} has no valid rootfs.diff_ids`);
  }
  if (diffIds.length !== manifest.layers.length) {
    throw invalidParameter(`invalid manifest, layers length mismatch: expected ${diffIds.length}, got ${manifest.layers.length}`);
  }
  await pullLayers(client, manifest.layers, diffIds, req, deps);
  req.progress({ kind: 'message', status: `Digest: ${manifest.digest}` });
  const name = fullName(ref);
  return deps.commit({ id: manifest.config.digest, raw }, { ...(ref.digest ? {} : { tag: fullString(ref) }), digestRef: `${name}@${manifest.digest}` });
}

type Parsed = { kind: 'index'; manifests: Descriptor[] } | { kind: 'image'; config: Descriptor; layers: Descriptor[] };

function parseManifest(body: Buffer, contentType: string, ref: ImageRef): Parsed {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalidParameter(`the registry's manifest for ${familiarString(ref)} is not JSON`);
  }
  const mediaType = typeof json['mediaType'] === 'string' ? (json['mediaType'] as string) : contentType;
  if (json['schemaVersion'] === 1 || mediaType === MT.schema1 || mediaType === MT.schema1Signed || contentType === MT.schema1 || contentType === MT.schema1Signed) {
    throw invalidParameter(
      `${familiarString(ref)} is an image manifest version 2, schema 1, which berth does not support (Docker removed it too): push the image again with a current client to get an OCI or schema 2 manifest`,
    );
  }
  if (INDEX_TYPES.includes(mediaType) || (mediaType === '' && Array.isArray(json['manifests']))) {
    const manifests = Array.isArray(json['manifests']) ? (json['manifests'] as Descriptor[]) : [];
    for (const d of manifests) checkDescriptor(d, 'manifest list entry');
    return { kind: 'index', manifests };
  }
  if (IMAGE_MANIFEST_TYPES.includes(mediaType) || (mediaType === '' && json['config'] !== undefined)) {
    const config = checkDescriptor(json['config'] as Descriptor, 'config');
    if (config.mediaType && !CONFIG_TYPES.includes(config.mediaType)) {
      throw invalidParameter(`unsupported image config media type ${config.mediaType} in ${familiarString(ref)}: this is not a container image`);
    }
    const layers = Array.isArray(json['layers']) ? (json['layers'] as Descriptor[]).map((l) => checkDescriptor(l, 'layer')) : [];
    for (const l of layers) {
      if (l.mediaType && !LAYER_TYPES.includes(l.mediaType)) throw invalidParameter(`unsupported media type ${l.mediaType}`);
    }
    if (layers.length === 0) throw invalidParameter(`the manifest of ${familiarString(ref)} has no layers`);
    return { kind: 'image', config, layers };
  }
  throw invalidParameter(`unsupported manifest media type ${JSON.stringify(mediaType)} for ${familiarString(ref)}`);
}

function checkDescriptor(d: Descriptor | undefined, what: string): Descriptor {
  if (!d || typeof d.digest !== 'string' || !DIGEST_RE.test(d.digest)) {
    throw invalidParameter(`invalid ${what} descriptor: unsupported or malformed digest ${JSON.stringify(d?.digest ?? null)}`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw invalidParameter(`invalid ${what} descriptor ${d.digest}: bad size`);
  return d;
}

async function fetchConfig(client: RepoClient, d: Descriptor, signal?: AbortSignal): Promise<{ raw: string; config: ImageConfig }> {
  if (d.size > MAX_CONFIG) throw invalidParameter(`image config ${d.digest} is too large (${d.size} bytes)`);
  const { res } = await client.blob(d.digest, 0, signal);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > d.size) break;
    chunks.push(c);
  }
  res.body.destroy();
  const bytes = Buffer.concat(chunks);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (digest !== d.digest || bytes.length !== d.size) throw invalidParameter(`image config verification failed for digest ${d.digest}`);
  const raw = bytes.toString('utf8');
  if (!Buffer.from(raw, 'utf8').equals(bytes)) throw invalidParameter(`image config ${d.digest} is not UTF-8 text`);
  let config: ImageConfig;
  try {
    config = JSON.parse(raw) as ImageConfig;
  } catch {
    throw invalidParameter(`image config ${d.digest} is not JSON`);
  }
  if (config.os !== undefined && config.os !== 'linux') {
    throw invalidParameter(`image operating system "${String(config.os)}" cannot be used on this platform`);
  }
  return { raw, config };
}

/**
 * The layers: those whose chain is stored already are skipped ("Already exists"), the others
 * downloaded up to `max-concurrent-downloads` at a time and applied in order as soon as each
 * and the one below it are there. Nothing of a failed pull stays: its downloads are scratch
 * files, and the layers it made that no image uses are removed again.
 */
async function pullLayers(client: RepoClient, descs: Descriptor[], diffIds: string[], req: PullRequest, deps: PullDeps): Promise<void> {
  const chain = chainIds(diffIds);
  const unpin = deps.pin(chain);
  let pinned = true;
  const release = () => {
    if (pinned) unpin();
    pinned = false;
  };
  const created: string[] = [];
  const ac = new AbortController();
  const onAbort = () => ac.abort(req.signal?.reason);
  req.signal?.addEventListener('abort', onAbort, { once: true });
  const dir = await mkdtemp(join(deps.tmpDir, 'pull-'));
  let downloads: Promise<string>[] = [];
  try {
    // A chain id names a layer and everything under it, so the stored ones are a prefix.
    let present = 0;
    while (present < chain.length && deps.layers.has(chain[present] as string)) present++;
    for (const [i, d] of descs.entries()) {
      req.progress({ kind: 'update', id: shortDigest(d.digest), status: i < present ? 'Already exists' : 'Pulling fs layer' });
    }
    const todo = descs.slice(present);
    const limit = Math.max(1, deps.registries.settings.maxConcurrentDownloads);
    let running = 0;
    const queue: (() => void)[] = [];
    const slot = async (id: string): Promise<() => void> => {
      if (running >= limit) {
        req.progress({ kind: 'update', id, status: 'Waiting' });
        await new Promise<void>((resolve) => queue.push(resolve));
      }
      running++;
      return () => {
        running--;
        queue.shift()?.();
      };
    };
    downloads = todo.map(async (d, k) => {
      const id = shortDigest(d.digest);
      const free = await slot(id);
      try {
        ac.signal.throwIfAborted();
        const file = join(dir, `${k}-${d.digest.slice(7)}`);
        await download(client, d, file, id, req.progress, ac.signal, deps.log);
        return file;
      } finally {
        free();
      }
    });
    // A failed download stops the others at once; the first failure is the one reported.
    downloads.forEach((p) => p.catch((err: unknown) => ac.abort(err)));
    for (const [k, d] of todo.entries()) {
      const file = await (downloads[k] as Promise<string>);
      const i = present + k;
      const id = shortDigest(d.digest);
      const counter = byteProgress(req.progress, id, 'Extracting', d.size);
      const source = createReadStream(file);
      source.on('error', (err) => counter.destroy(err));
      const input = source.pipe(counter);
      try {
        await deps.layers.apply(input, chain[i - 1], { expectDiffId: diffIds[i] as string, signal: ac.signal, blob: { file, digest: d.digest, size: d.size } });
      } catch (err) {
        throw isKind(err, 'InvalidParameter') ? invalidParameter(`failed to register layer ${id}: ${messageOf(err)}`, err) : err;
      }
      created.push(chain[i] as string);
      deps.recordSource(d.digest, fullName(req.ref));
      req.progress({ kind: 'update', id, status: 'Pull complete' });
    }
    for (const d of descs.slice(0, present)) deps.recordSource(d.digest, fullName(req.ref));
  } catch (err) {
    ac.abort(err);
    await Promise.allSettled(downloads);
    release();
    for (const chainId of created.reverse()) {
      if (deps.layerInUse(chainId)) continue;
      await deps.layers.remove(chainId).catch((e: unknown) => deps.log.warn({ chainId, err: messageOf(e) }, 'cannot remove layer of a failed pull'));
    }
    throw req.signal?.aborted ? req.signal.reason : err;
  } finally {
    req.signal?.removeEventListener('abort', onAbort);
    release();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * One blob to a file, its digest and size checked as it streams. A connection that breaks
 * is resumed where it stopped (HTTP Range; from the start if the registry ignores the range),
 * up to five attempts.
 */
async function download(client: RepoClient, d: Descriptor, file: string, id: string, progress: Progress, signal: AbortSignal, log: Logger): Promise<void> {
  let hash: Hash = createHash('sha256');
  let have = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const { res, resumed } = await client.blob(d.digest, have, signal);
      if (have > 0 && !resumed) {
        hash = createHash('sha256');
        have = 0;
        await truncate(file, 0);
      }
      const h = hash;
      const tap = new Transform({
        transform(chunk: Buffer, _e, cb) {
          if (have + chunk.length > d.size) {
            cb(invalidParameter(`filesystem layer verification failed for digest ${d.digest}: more than ${d.size} bytes`));
            return;
          }
          h.update(chunk);
          have += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(res.body, tap, byteProgress(progress, id, 'Downloading', d.size, have), createWriteStream(file, { flags: 'a' }), { signal });
      if (have !== d.size) throw unavailable(`blob ${d.digest}: the registry sent ${have} of ${d.size} bytes`);
      break;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (!retriable(err) || attempt >= ATTEMPTS) throw err instanceof BerthError ? err : unavailable(`downloading ${d.digest}: ${describeNetworkError(err)}`, err);
      // Resume from what reached the disk; bytes hashed but not yet written are fetched again,
      // so the hash is made again from the file.
      hash = createHash('sha256');
      have = 0;
      if ((await stat(file).catch(() => ({ size: 0 }))).size > 0) {
        for await (const c of createReadStream(file) as AsyncIterable<Buffer>) {
          hash.update(c);
          have += c.length;
        }
      }
      log.info({ digest: d.digest, attempt, have, err: messageOf(err) }, 'blob download interrupted, resuming');
      const delay = attempt === 1 ? 0 : attempt - 1;
      if (delay > 0) {
        progress({ kind: 'update', id, status: `Retrying in ${delay} second${delay === 1 ? '' : 's'}` });
        await new Promise((r) => setTimeout(r, delay * 1000));
      }
    }
  }
  progress({ kind: 'update', id, status: 'Verifying Checksum' });
  const digest = `sha256:${hash.digest('hex')}`;
  if (digest !== d.digest) throw invalidParameter(`filesystem layer verification failed for digest ${d.digest}`);
  progress({ kind: 'update', id, status: 'Download complete' });
}

/** A broken connection or a registry's passing trouble; not a refusal or bad content. */
function retriable(err: unknown): boolean {
  if (err instanceof RegistryError) return err.status >= 500 || err.status === 429;
  if (err instanceof BerthError) return err.kind === 'Unavailable';
  return true;
}

/** dockerd's wording for what a registry does not have (moby distribution/errors.go). */
function translate(err: unknown, ref: ImageRef): unknown {
  if (!(err instanceof RegistryError)) return err;
  switch (err.code) {
    case 'MANIFEST_UNKNOWN':
      return notFound(`manifest for ${familiarString(ref)} not found: ${err.message}`, err);
    case 'NAME_UNKNOWN':
      return notFound(`repository ${familiarName(ref)} not found: ${err.message}`, err);
    case 'DENIED':
      return notFound(`pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${err.message}`, err);
  }
  return err;
}
