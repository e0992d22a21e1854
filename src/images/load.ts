import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { ImageConfig } from './image-store.js';
import { parseReference, withDefaultTag, fullString, type ImageRef } from './reference.js';
import { chainIdOf, extractTar, type LayerStore } from '../storage/index.js';
import { resolveInRoot } from '../lib/in-root.js';
import { errnoCode, invalidParameter, isKind, messageOf } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { byteProgress, shortDigest, type Progress } from './progress.js';

/**
 * `docker load`: a `docker save` archive (manifest.json, old `<id>/layer.tar` or Docker 25+
 * `blobs/sha256/…` paths) or an OCI image layout (index.json + blobs). The archive is
 * unpacked to a scratch directory first, as dockerd does, because manifest.json may come last.
 * Every digest is checked against the content; the image ID is the sha256 of the config bytes
 * exactly as archived, so an archive gets the same ID here as under dockerd.
 */

/** An image read from an archive and verified, not yet stored. */
export type ArchivedImage = {
  id: string;
  /** The config's exact text (checked to round-trip to the archived bytes). */
  raw: string;
  diffIds: string[];
  layers: LayerSource[];
  /** Full references (`docker.io/library/busybox:latest`). */
  refs: string[];
};

/** A layer file in the unpacked archive; `digest` when the archive names it by its digest (verified). */
type LayerSource = { path: string; name: string; digest?: string };

export type LoadDeps = {
  layers: LayerStore;
  /** Where to unpack the archive (under the data root, so big archives fit). */
  tmpDir: string;
  /** Keep these layers from being removed while the load runs; returns the release. */
  pin(chainIds: string[]): () => void;
  /** Whether a stored image (or a pinned load) still uses the layer. */
  layerInUse(chainId: string): boolean;
  /** Store the images and their names; returns the lines to report. */
  commit(images: ArchivedImage[]): Promise<string[]>;
  log: Logger;
  /** "Loading layer" bars, when the client wants them (`quiet=0`). */
  progress?: Progress;
};

const MAX_JSON = 8 * 1024 * 1024;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];

export async function loadArchive(tar: Readable, deps: LoadDeps, signal?: AbortSignal): Promise<string[]> {
  const spool = await mkdtemp(join(deps.tmpDir, 'load-'));
  try {
    await extractTar(tar, spool, { whiteouts: 'reject', ...(signal ? { signal } : {}) });
    const images = await readArchive(spool);
    const chains = images.map((img) => chainIds(img.diffIds));
    let release: (() => void) | undefined = deps.pin(chains.flat());
    const created: string[] = [];
    try {
      for (const [i, img] of images.entries()) {
        const chain = chains[i] as string[];
        for (const [j, layer] of img.layers.entries()) {
          const chainId = chain[j] as string;
          if (deps.layers.has(chainId)) continue;
          signal?.throwIfAborted();
          try {
            let input: Readable = createReadStream(layer.path);
            if (deps.progress) {
              const counter = byteProgress(deps.progress, shortDigest(chainId), 'Loading layer', (await stat(layer.path)).size);
              input.on('error', (e) => counter.destroy(e));
              input = input.pipe(counter);
            }
            await deps.layers.apply(input, chain[j - 1], {
              expectDiffId: img.diffIds[j] as string,
              ...(signal ? { signal } : {}),
              ...(layer.digest ? { blob: { file: layer.path, digest: layer.digest, size: (await stat(layer.path)).size } } : {}),
            });
          } catch (err) {
            throw withContext(err, `layer ${layer.name}`);
          }
          created.push(chainId);
        }
      }
      return await deps.commit(images);
    } catch (err) {
      // Nothing half-loaded: drop the layers this load made that no image (and no other
      // load) uses, top first.
      release();
      release = undefined;
      for (const chainId of created.reverse()) {
        if (deps.layerInUse(chainId)) continue;
        await deps.layers.remove(chainId).catch((e: unknown) => deps.log.warn({ chainId, err: messageOf(e) }, 'cannot remove layer of a failed load'));
      }
      throw err;
    } finally {
      release?.();
    }
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
}

/** Read and verify the archive's images; nothing is stored yet. */
export async function readArchive(root: string): Promise<ArchivedImage[]> {
  if (await isFile(root, 'manifest.json')) return readDockerSave(root);
  if (await isFile(root, 'index.json')) return readOciLayout(root);
  if (await isFile(root, 'repositories')) {
    throw invalidParameter('invalid archive: the pre-1.10 docker save format (repositories without manifest.json) is not supported');
  }
  throw invalidParameter('invalid archive: it has neither a manifest.json (docker save) nor an index.json (OCI image layout)');
}

type SaveEntry = { Config?: unknown; RepoTags?: unknown; Layers?: unknown };

async function readDockerSave(root: string): Promise<ArchivedImage[]> {
  const manifest = await readJson<unknown>(root, 'manifest.json', 'manifest.json');
  if (!Array.isArray(manifest)) throw invalidParameter('invalid archive: manifest.json is not a list of images');
  const out: ArchivedImage[] = [];
  for (const entry of manifest as SaveEntry[]) {
    if (typeof entry?.Config !== 'string' || !Array.isArray(entry.Layers) || !entry.Layers.every((l) => typeof l === 'string')) {
      throw invalidParameter('invalid archive: a manifest.json entry lacks Config or Layers');
    }
    const repoTags = entry.RepoTags ?? [];
    if (!Array.isArray(repoTags) || !repoTags.every((t) => typeof t === 'string')) {
      throw invalidParameter('invalid archive: RepoTags in manifest.json must be a list of names');
    }
    // A file named by its digest (blobs/sha256/<hex>, <hex>.json) must hold that content.
    const configDigest = digestInName(entry.Config);
    const config = await readConfig(root, entry.Config, configDigest);
    const layers: LayerSource[] = [];
    for (const name of entry.Layers as string[]) {
      const path = await member(root, name, 'layer');
      const digest = name.startsWith('blobs/') ? digestInName(name) : undefined;
      if (digest) await verifyBlob(path, name, digest, undefined);
      layers.push({ path, name, ...(digest ? { digest } : {}) });
    }
    out.push({ ...config, layers: checkLayerCount(config.diffIds, layers), refs: repoTags.map((t: string) => taggedRef(t)) });
  }
  return out;
}

type Descriptor = { mediaType?: string; digest?: unknown; size?: unknown; annotations?: Record<string, string>; platform?: { os?: string; architecture?: string } };

async function readOciLayout(root: string): Promise<ArchivedImage[]> {
  const index = await readJson<{ manifests?: unknown }>(root, 'index.json', 'index.json');
  if (!Array.isArray(index.manifests)) throw invalidParameter('invalid archive: index.json has no manifests');
  const out: ArchivedImage[] = [];
  for (const d of index.manifests as Descriptor[]) {
    const name = ociName(d.annotations ?? {});
    const manifest = await pickManifest(root, d, 0);
    const configDesc = manifest.config as Descriptor | undefined;
    const config = await readConfig(root, blobPath(configDesc), checkDescriptor(configDesc), configDesc?.size);
    if (!Array.isArray(manifest.layers)) throw invalidParameter('invalid archive: an image manifest has no layers');
    const layers: LayerSource[] = [];
    for (const l of manifest.layers as Descriptor[]) {
      const digest = checkDescriptor(l);
      const path = await member(root, blobPath(l), 'layer');
      await verifyBlob(path, blobPath(l), digest, l.size);
      layers.push({ path, name: digest, digest });
    }
    out.push({ ...config, layers: checkLayerCount(config.diffIds, layers), refs: name ? [name] : [] });
  }
  return out;
}

/** Follow an index (multi-platform image) down to this platform's image manifest. */
async function pickManifest(root: string, d: Descriptor, depth: number): Promise<Record<string, unknown>> {
  const digest = checkDescriptor(d);
  const path = blobPath(d);
  await verifyBlob(await member(root, path, 'manifest'), path, digest, d.size);
  const m = await readJson<Record<string, unknown>>(root, path, `manifest ${digest}`);
  const isIndex = INDEX_TYPES.includes(d.mediaType ?? '') || INDEX_TYPES.includes(String(m['mediaType'] ?? '')) || Array.isArray(m['manifests']);
  if (!isIndex) return m;
  if (depth > 2) throw invalidParameter('invalid archive: image indexes nested too deeply');
  const arch = hostArchitecture();
  const entries = Array.isArray(m['manifests']) ? (m['manifests'] as Descriptor[]) : [];
  const match = entries.find((e) => !e.platform || (e.platform.os === 'linux' && e.platform.architecture === arch));
  if (!match) throw invalidParameter(`invalid archive: no image for linux/${arch} in index ${digest}`);
  return pickManifest(root, match, depth + 1);
}

/** The config bytes, verified, and the image ID dockerd gives them. */
async function readConfig(root: string, name: string, digest: string | undefined, size?: unknown): Promise<Pick<ArchivedImage, 'id' | 'raw' | 'diffIds'>> {
  const path = await member(root, name, 'image config');
  const bytes = await readLimited(path, name);
  const id = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (digest !== undefined && id !== digest) throw invalidParameter(`invalid archive: image config ${name} has digest ${id}, expected ${digest}`);
  if (typeof size === 'number' && bytes.length !== size) throw invalidParameter(`invalid archive: image config ${name} has ${bytes.length} bytes, expected ${size}`);
  const raw = bytes.toString('utf8');
  if (!Buffer.from(raw, 'utf8').equals(bytes)) throw invalidParameter(`invalid archive: image config ${name} is not UTF-8 text`);
  let config: ImageConfig;
  try {
    config = JSON.parse(raw) as ImageConfig;
  } catch (err) {
    throw invalidParameter(`invalid archive: image config ${name} is not JSON: ${messageOf(err)}`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw invalidParameter(`invalid archive: image config ${name} is not an object`);
  if (config.os !== undefined && config.os !== 'linux') {
    throw invalidParameter(`image operating system "${String(config.os)}" cannot be used on this platform`);
  }
  const diffIds = config.rootfs?.diff_ids;
  if (config.rootfs?.type !== 'layers' || !Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string' && DIGEST_RE.test(d))) {
    throw invalidParameter(`invalid archive: image config ${name} has no valid rootfs.diff_ids`);
  }
  return { id, raw, diffIds };
}

function checkLayerCount(diffIds: string[], layers: LayerSource[]): LayerSource[] {
  if (diffIds.length !== layers.length) {
    throw invalidParameter(`invalid manifest, layers length mismatch: expected ${diffIds.length}, got ${layers.length}`);
  }
  if (layers.length === 0) throw invalidParameter('invalid archive: an image has no layers');
  return layers;
}

/** A path named in the archive, as a host path inside the scratch directory. */
async function member(root: string, name: string, what: string): Promise<string> {
  const norm = posix.normalize(name);
  if (name === '' || posix.isAbsolute(name) || norm === '..' || norm.startsWith('../')) {
    throw invalidParameter(`invalid archive: ${what} path ${JSON.stringify(name)} escapes the archive`);
  }
  let path: string;
  let st;
  try {
    // Symlinks (docker save links repeated layers) are followed but kept inside the archive.
    path = await resolveInRoot(root, norm);
    st = await stat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') throw invalidParameter(`invalid archive: ${what} ${name} is missing`);
    if (errnoCode(err) === undefined) throw invalidParameter(`invalid archive: ${what} ${name}: ${messageOf(err)}`); // a symlink loop
    throw err;
  }
  if (!st.isFile()) throw invalidParameter(`invalid archive: ${what} ${name} is not a file`);
  return path;
}

async function verifyBlob(path: string, name: string, digest: string, size: unknown): Promise<void> {
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== digest) throw invalidParameter(`invalid archive: ${name} has digest ${actual}, expected ${digest}`);
  if (typeof size === 'number' && size !== length) throw invalidParameter(`invalid archive: ${name} has ${length} bytes, expected ${size}`);
}

async function readJson<T>(root: string, name: string, what: string): Promise<T> {
  const text = (await readLimited(await member(root, name, what), name)).toString('utf8');
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw invalidParameter(`invalid archive: ${what} is not valid JSON: ${messageOf(err)}`);
  }
}

async function readLimited(path: string, name: string): Promise<Buffer> {
  if ((await stat(path)).size > MAX_JSON) throw invalidParameter(`invalid archive: ${name} is too large`);
  return readFile(path);
}

function checkDescriptor(d: Descriptor | undefined): string {
  if (typeof d?.digest !== 'string' || !DIGEST_RE.test(d.digest)) {
    throw invalidParameter(`invalid archive: unsupported or malformed digest ${JSON.stringify(d?.digest ?? null)}`);
  }
  return d.digest;
}

function blobPath(d: Descriptor | undefined): string {
  return `blobs/sha256/${checkDescriptor(d).slice(7)}`;
}

/** `blobs/sha256/<hex>` and `<hex>.json` name their content's digest. */
function digestInName(name: string): string | undefined {
  const m = /^(?:blobs\/sha256\/([0-9a-f]{64})|([0-9a-f]{64})\.json)$/.exec(posix.normalize(name));
  const hex = m?.[1] ?? m?.[2];
  return hex ? `sha256:${hex}` : undefined;
}

/** docker save names must be tagged (dockerd: `invalid tag`). */
function taggedRef(name: string): string {
  let ref: ImageRef;
  try {
    ref = parseReference(name);
  } catch {
    throw invalidParameter(`invalid tag ${JSON.stringify(name)}`);
  }
  if (ref.tag === undefined || ref.digest !== undefined) throw invalidParameter(`invalid tag ${JSON.stringify(name)}`);
  return fullString(ref);
}

/**
 * An OCI layout names an image by annotation: containerd's full name, or the OCI ref.name,
 * which is a full reference or, commonly, a bare tag (no repository: the image stays untagged).
 */
function ociName(annotations: Record<string, string>): string | undefined {
  const name = annotations['io.containerd.image.name'] ?? annotations['org.opencontainers.image.ref.name'];
  if (name === undefined || !/[/:]/.test(name)) return undefined;
  let ref: ImageRef;
  try {
    ref = withDefaultTag(parseReference(name));
  } catch {
    throw invalidParameter(`invalid archive: invalid image name ${JSON.stringify(name)}`);
  }
  if (ref.digest !== undefined) return undefined;
  return fullString(ref);
}

/** The chain ids of an image's layers, base first. */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const diff of diffIds) out.push(chainIdOf(out[out.length - 1], diff));
  return out;
}

/** The chain ids of the layers an image config names, base first. */
export function chainIdsOf(config: ImageConfig): string[] {
  return chainIds(config.rootfs?.diff_ids ?? []);
}

function hostArchitecture(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;
}

/** Whether the archive has this file (a symlink in it is followed, but never out of it). */
async function isFile(root: string, name: string): Promise<boolean> {
  try {
    return (await stat(await resolveInRoot(root, name))).isFile();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** A bad layer is named in the message; failures of our own disk stay as they are. */
function withContext(err: unknown, what: string): unknown {
  return isKind(err, 'InvalidParameter') ? invalidParameter(`invalid archive: ${what}: ${messageOf(err)}`, err) : err;
}
