import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { createZstdDecompress, type LayerMeta, type LayerStore } from '../storage/index.js';
import { invalidParameter, systemError } from '../lib/errors.js';
import { shortId } from '../lib/ids.js';
import { MT } from './media-types.js';
import { familiarString, parseReference } from './reference.js';
import type { StoredImage } from './image-store.js';
import { chainIds } from './load.js';

/** One image to save and the names (full references) it is saved under. */
export type SaveItem = { image: StoredImage; refs: string[] };

type Entry = { name: string; size: number; open: () => Readable | Promise<Readable> };

/**
 * `docker save`, in the layout dockerd 25+ writes: an OCI image layout (oci-layout,
 * index.json, blobs/sha256/…) with docker's manifest.json beside it, so that `docker load`
 * here and in dockerd both take it. Layers are written uncompressed (their blob digest is
 * their diff ID, as dockerd writes them), decompressed from the kept blob and checked
 * against the diff ID as they stream; the config keeps its bytes, so the image ID is the
 * source's.
 */
export async function saveImages(items: SaveItem[], layers: LayerStore): Promise<{ stream: Readable; done: Promise<void> }> {
  const blobs = new Map<string, Entry>();
  const manifestJson: Record<string, unknown>[] = [];
  const index: Record<string, unknown>[] = [];
  const mtime = new Date(0);
  for (const { image, refs } of items) {
    const metas = layerMetas(image, refs, layers);
    const config = Buffer.from(image.raw, 'utf8');
    addBuffer(blobs, image.id, config);
    for (const m of metas) {
      if (!blobs.has(m.diffId)) blobs.set(m.diffId, { name: blobName(m.diffId), size: m.tarSize as number, open: () => layerTar(m, layers) });
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: image.id, size: config.length },
        layers: metas.map((m) => ({ mediaType: MT.ociLayer, digest: m.diffId, size: m.tarSize })),
      }),
    );
    const manifestDigest = sha256(manifest);
    addBuffer(blobs, manifestDigest, manifest);
    const descriptor = { mediaType: MT.ociManifest, digest: manifestDigest, size: manifest.length };
    if (refs.length === 0) index.push(descriptor);
    for (const r of refs) {
      const ref = parseReference(r);
      index.push({ ...descriptor, annotations: { 'io.containerd.image.name': r, 'org.opencontainers.image.ref.name': ref.tag ?? '' } });
    }
    manifestJson.push({
      Config: blobName(image.id),
      RepoTags: refs.length > 0 ? refs.map((r) => familiarString(parseReference(r))) : null,
      Layers: metas.map((m) => blobName(m.diffId)),
    });
  }
  const files: Entry[] = [
    ...blobs.values(),
    bufferEntry('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: index }))),
    bufferEntry('manifest.json', Buffer.from(JSON.stringify(manifestJson))),
    bufferEntry('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')),
  ];
  const tar = (await import('tar-stream')).default;
  const pack = tar.pack();
  const out = new PassThrough();
  const done = (async () => {
    const written = pipeline(pack, out);
    // A reader that goes away fails this while an entry is being written, before it is
    // awaited below: handled here, or it would be an unhandled rejection ending berthd.
    written.catch(() => undefined);
    for (const dir of ['blobs/', 'blobs/sha256/']) pack.entry({ name: dir, type: 'directory', mode: 0o755, mtime });
    for (const f of files) {
      const entry = pack.entry({ name: f.name, size: f.size, mode: 0o644, mtime });
      await pipeline(await f.open(), entry);
    }
    pack.finalize();
    await written;
  })();
  done.catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  return { stream: out, done };
}

function layerMetas(image: StoredImage, refs: string[], layers: LayerStore): LayerMeta[] {
  const name = refs[0] ? familiarString(parseReference(refs[0])) : shortId(image.id);
  return chainIds(image.config.rootfs?.diff_ids ?? []).map((c) => {
    if (!layers.has(c)) throw systemError(`image ${name}: layer ${c} is missing`);
    const m = layers.get(c);
    if (!m.blob || m.tarSize === undefined) {
      throw invalidParameter(
        `image ${name} (${shortId(image.id)}) cannot be saved: its layer ${m.diffId} was stored by an earlier berth, which kept neither the layer's original tar nor a record to rebuild it; pull or load the image again to save it (berth never re-tars a layer, which would give it a new diff ID)`,
      );
    }
    return m;
  });
}

/** The layer's uncompressed tar from its blob, failing the stream if it is not the diff ID's content. */
function layerTar(m: LayerMeta, layers: LayerStore): Readable | Promise<Readable> {
  const file = createReadStream(layers.blobPath(m) as string);
  const hash = createHash('sha256');
  const check = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const got = `sha256:${hash.digest('hex')}`;
      cb(got === m.diffId ? null : systemError(`layer ${m.diffId}: its kept blob decompresses to ${got}`));
    },
  });
  file.on('error', (err) => check.destroy(err));
  const through = (src: Readable) => {
    src.on('error', (err: Error) => check.destroy(err));
    return src.pipe(check);
  };
  if (m.blob?.compression === 'zstd') return createZstdDecompress().then((z) => through(file.pipe(z)));
  return through(m.blob?.compression === 'gzip' ? file.pipe(createGunzip()) : file);
}

function addBuffer(blobs: Map<string, Entry>, digest: string, b: Buffer): void {
  if (!blobs.has(digest)) blobs.set(digest, bufferEntry(blobName(digest), b));
}

function bufferEntry(name: string, b: Buffer): Entry {
  return { name, size: b.length, open: () => new PassThroughOf(b) };
}

class PassThroughOf extends PassThrough {
  constructor(b: Buffer) {
    super();
    this.end(b);
  }
}

function blobName(digest: string): string {
  return `blobs/sha256/${digest.replace(/^sha256:/, '')}`;
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}
