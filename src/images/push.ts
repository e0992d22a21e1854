import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { LayerMeta, LayerStore } from '../storage/index.js';
import { invalidParameter, notFound } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { shortId } from '../lib/ids.js';
import { MT } from './media-types.js';
import { byteProgress, shortDigest, type Progress } from './progress.js';
import { familiarName, familiarString, fullName, fullString, parseReference, type ImageRef } from './reference.js';
import type { Credentials, Registries, RepoClient } from './registry/index.js';
import type { BlobSources } from './blob-sources.js';
import type { StoredImage } from './image-store.js';
import { chainIds } from './load.js';

export type PushDeps = {
  registries: Registries;
  layers: LayerStore;
  sources: BlobSources;
  /** The repository's tags (full references) and the image each names. */
  tagsOf(repo: string): { ref: string; image: StoredImage }[];
  /** Point `repo@digest` at the image once the manifest is in the registry. */
  recordDigest(digestRef: string, imageId: string): Promise<void>;
  log: Logger;
};

export type PushRequest = { ref: ImageRef; creds?: Credentials; progress: Progress; signal?: AbortSignal };

type PushLayer = { meta: LayerMeta; id: string };

/**
 * `docker push`: each layer's kept blob is uploaded unless the repository has it ("Layer
 * already exists") or another repository of the registry that berth knows to hold it lends
 * it (a cross-repository mount, "Mounted from …"); the config next, the manifest last, so a
 * push cut short never leaves a tag pointing at missing blobs.
 */
export async function push(req: PushRequest, deps: PushDeps): Promise<void> {
  const { ref } = req;
  const name = fullName(ref);
  req.progress({ kind: 'message', status: `The push refers to repository [${name}]` });
  const all = deps.tagsOf(name).filter((t) => !t.ref.includes('@'));
  if (all.length === 0) throw notFound(`An image does not exist locally with the tag: ${familiarName(ref)}`);
  const tags = ref.tag === undefined ? all : all.filter((t) => t.ref === fullString(ref));
  if (tags.length === 0) throw notFound(`tag does not exist: ${familiarString(ref)}`);
  // Every layer must have its blob before anything is sent.
  const plans = tags.map((t) => ({ ...t, layers: layersOf(t.image, t.ref, deps.layers) }));
  const mountFrom = new Set<string>();
  for (const p of plans) for (const l of p.layers) for (const r of deps.sources.on(l.meta.blob?.digest ?? '', ref.domain, name)) mountFrom.add(r);
  const extraScopes = [...mountFrom].slice(0, 8).map((r) => `repository:${r.slice(ref.domain.length + 1)}:pull`);
  const state: PushState = { remote: new Set() };
  try {
    await deps.registries.withRepo(
      ref.domain,
      ref.path,
      req.creds,
      ['pull', 'push'],
      async (client) => {
        for (const p of plans) await pushTag(client, p.ref, p.image, p.layers, state, req, deps);
      },
      { ...(req.signal ? { signal: req.signal } : {}), extraScopes: () => extraScopes },
    );
  } finally {
    await deps.sources.save();
  }
}

type PushState = { remote: Set<string> };

function layersOf(image: StoredImage, ref: string, layers: LayerStore): PushLayer[] {
  const out: PushLayer[] = [];
  for (const chainId of chainIds(image.config.rootfs?.diff_ids ?? [])) {
    if (!layers.has(chainId)) throw notFound(`image ${familiarString(parseReference(ref))} cannot be pushed: its layer ${chainId} is missing`);
    const meta = layers.get(chainId);
    if (!meta.blob) {
      throw invalidParameter(
        `image ${familiarString(parseReference(ref))} (${shortId(image.id)}) cannot be pushed: its layer ${meta.diffId} was stored by an earlier berth, which kept neither the layer's original tar nor a record to rebuild it; pull or load the image again to push it (berth never re-tars a layer, which would give it a new diff ID)`,
      );
    }
    out.push({ meta, id: shortDigest(meta.diffId) });
  }
  return out;
}

async function pushTag(client: RepoClient, ref: string, image: StoredImage, layers: PushLayer[], state: PushState, req: PushRequest, deps: PushDeps): Promise<void> {
  const tag = parseReference(ref).tag as string;
  // dockerd lists the top layer first.
  const top = [...layers].reverse();
  for (const l of top) req.progress({ kind: 'update', id: l.id, status: 'Preparing' });
  const limit = Math.max(1, deps.registries.settings.maxConcurrentUploads);
  let running = 0;
  const queue: (() => void)[] = [];
  const ac = new AbortController();
  const onAbort = () => ac.abort(req.signal?.reason);
  req.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const tasks = top.map(async (l) => {
      if (running >= limit) {
        req.progress({ kind: 'update', id: l.id, status: 'Waiting' });
        await new Promise<void>((resolve) => queue.push(resolve));
      }
      running++;
      try {
        ac.signal.throwIfAborted();
        await pushLayer(client, l, state, req, deps, ac.signal);
      } finally {
        running--;
        queue.shift()?.();
      }
    });
    tasks.forEach((t) => t.catch((err: unknown) => ac.abort(err)));
    const results = await Promise.allSettled(tasks);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw req.signal?.aborted ? req.signal.reason : failed.reason;
  } finally {
    req.signal?.removeEventListener('abort', onAbort);
  }
  const sig = req.signal;
  const config = Buffer.from(image.raw, 'utf8');
  if (!state.remote.has(image.id) && (await client.blobSize(image.id, sig)) === undefined) {
    const session = await client.startUpload(undefined, sig);
    if (!session.mounted) await client.upload(session.location, () => Readable.from([config]), config.length, image.id, sig);
  }
  state.remote.add(image.id);
  const zstd = layers.some((l) => l.meta.blob?.compression === 'zstd');
  const manifest = {
    schemaVersion: 2,
    mediaType: zstd ? MT.ociManifest : MT.dockerManifest,
    config: { mediaType: zstd ? MT.ociConfig : MT.dockerConfig, size: config.length, digest: image.id },
    layers: layers.map((l) => ({
      mediaType: layerMediaType(l.meta, zstd),
      size: l.meta.blob?.size ?? 0,
      digest: l.meta.blob?.digest ?? '',
    })),
  };
  // Three-space indentation, as dockerd serialises its manifests.
  const body = Buffer.from(JSON.stringify(manifest, null, 3));
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const told = await client.putManifest(tag, manifest.mediaType, body, sig);
  if (told !== digest) deps.log.warn({ told, digest }, 'the registry names the pushed manifest by another digest');
  req.progress({ kind: 'message', status: `${tag}: digest: ${digest} size: ${body.length}` });
  req.progress({ kind: 'aux', aux: { Tag: tag, Digest: digest, Size: body.length } });
  await deps.recordDigest(`${fullName(parseReference(ref))}@${digest}`, image.id);
}

function layerMediaType(meta: LayerMeta, oci: boolean): string {
  const c = meta.blob?.compression;
  if (oci) return c === 'zstd' ? MT.ociZstdLayer : c === 'gzip' ? MT.ociGzipLayer : MT.ociLayer;
  return c === 'gzip' ? MT.dockerLayer : MT.dockerTarLayer;
}

async function pushLayer(client: RepoClient, l: PushLayer, state: PushState, req: PushRequest, deps: PushDeps, signal: AbortSignal): Promise<void> {
  const blob = l.meta.blob;
  if (!blob) throw invalidParameter(`layer ${l.meta.diffId} has no blob`);
  const name = fullName(req.ref);
  if (state.remote.has(blob.digest) || (await client.blobSize(blob.digest, signal)) !== undefined) {
    state.remote.add(blob.digest);
    deps.sources.add(blob.digest, name);
    req.progress({ kind: 'update', id: l.id, status: 'Layer already exists' });
    return;
  }
  let location: URL | undefined;
  for (const from of deps.sources.on(blob.digest, req.ref.domain, name).slice(0, 3)) {
    const path = from.slice(req.ref.domain.length + 1);
    const r = await client.startUpload({ digest: blob.digest, from: path }, signal).catch((err: unknown) => {
      deps.log.debug({ from, err: String(err) }, 'cross-repository mount failed');
      return undefined;
    });
    if (!r) continue;
    if (r.mounted) {
      state.remote.add(blob.digest);
      deps.sources.add(blob.digest, name);
      req.progress({ kind: 'update', id: l.id, status: `Mounted from ${path}` });
      return;
    }
    location = r.location;
    break;
  }
  if (!location) {
    const r = await client.startUpload(undefined, signal);
    if (r.mounted) return;
    location = r.location;
  }
  const file = deps.layers.blobPath(l.meta) as string;
  await client.upload(
    location,
    () => {
      // The blob can go (an rmi meanwhile): its read error fails the upload, never the daemon.
      const counter = byteProgress(req.progress, l.id, 'Pushing', blob.size);
      const source = createReadStream(file);
      source.on('error', (err) => counter.destroy(err));
      return source.pipe(counter);
    },
    blob.size,
    blob.digest,
    signal,
  );
  state.remote.add(blob.digest);
  deps.sources.add(blob.digest, name);
  req.progress({ kind: 'update', id: l.id, status: 'Pushed' });
}
