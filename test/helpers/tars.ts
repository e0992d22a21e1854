import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { Pack } from 'tar-stream';

/** A tar entry: tar-stream's header plus its content. */
export type TarEntry = Parameters<Pack['entry']>[0] & { data?: string | Buffer };

/** A tar archive in memory, entries written exactly as given. */
export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const p = tar.pack();
  for (const { data, ...header } of entries) {
    if (data !== undefined) p.entry({ mtime: new Date(0), ...header, size: Buffer.byteLength(data) }, data);
    else p.entry({ mtime: new Date(0), ...header });
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export function hex(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

/** An image to put in an archive: layer tars (base first) and what the config says. */
export type ArchiveImage = {
  layers: Buffer[];
  repoTags?: string[];
  /** Gzip the layer blobs (docker-save and OCI both allow it). */
  gzip?: boolean;
  /** Extra config fields (Labels, Cmd... go in `config`). */
  config?: Record<string, unknown>;
  created?: string;
  history?: Record<string, unknown>[];
  /** Override the diff ids the config claims (to build a lying archive). */
  diffIds?: string[];
};

/** The config JSON as bytes, and the image ID dockerd would give it (sha256 of those bytes). */
export function imageConfig(img: ArchiveImage): { raw: Buffer; id: string } {
  const diffIds = img.diffIds ?? img.layers.map((l) => sha256(l));
  const created = img.created ?? '2024-01-02T03:04:05Z';
  const config = {
    architecture: 'amd64',
    config: { Cmd: ['sh'], ...(img.config ?? {}) },
    created,
    history: img.history ?? img.layers.map((_, i) => ({ created, created_by: `/bin/sh -c #(nop) layer ${i}` })),
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  // Two-space indentation: a serialisation berthd would never produce itself, so a matching
  // ID proves the bytes were kept as they came.
  const raw = Buffer.from(JSON.stringify(config, null, 2));
  return { raw, id: sha256(raw) };
}

/**
 * A `docker save` archive. 'blobs' is the layout of Docker 25+ (blobs/sha256/<hex>, plus an
 * OCI index.json); 'legacy' the older one (<id>/layer.tar, <hex>.json, `repositories`).
 */
export async function dockerSaveArchive(images: ArchiveImage[], layout: 'blobs' | 'legacy' = 'legacy'): Promise<Buffer> {
  const files = new Map<string, Buffer>();
  const manifest: Record<string, unknown>[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const img of images) {
    const { raw, id } = imageConfig(img);
    const configPath = layout === 'blobs' ? `blobs/sha256/${hex(id)}` : `${hex(id)}.json`;
    files.set(configPath, raw);
    const layerPaths = img.layers.map((l, i) => {
      const blob = img.gzip ? gzipSync(l) : l;
      const path = layout === 'blobs' ? `blobs/sha256/${hex(sha256(blob))}` : `${hex(sha256(`${id} ${i}`))}/layer.tar`;
      files.set(path, blob);
      return path;
    });
    manifest.push({ Config: configPath, RepoTags: img.repoTags ?? null, Layers: layerPaths });
    for (const t of img.repoTags ?? []) {
      const colon = t.lastIndexOf(':');
      const repo = t.slice(0, colon);
      repositories[repo] = { ...(repositories[repo] ?? {}), [t.slice(colon + 1)]: hex(id) };
    }
  }
  files.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
  if (Object.keys(repositories).length > 0) files.set('repositories', Buffer.from(JSON.stringify(repositories)));
  return makeTar([...files].map(([name, data]) => ({ name, data })));
}

/** An OCI image layout: index.json → manifest → config and layers, all blobs by digest. */
export async function ociArchive(images: (ArchiveImage & { refName?: string })[]): Promise<Buffer> {
  const files = new Map<string, Buffer>();
  const put = (b: Buffer) => {
    const d = sha256(b);
    files.set(`blobs/sha256/${hex(d)}`, b);
    return d;
  };
  const manifests: Record<string, unknown>[] = [];
  for (const img of images) {
    const { raw } = imageConfig(img);
    const layers = img.layers.map((l) => {
      const blob = img.gzip ? gzipSync(l) : l;
      return {
        mediaType: `application/vnd.oci.image.layer.v1.tar${img.gzip ? '+gzip' : ''}`,
        digest: put(blob),
        size: blob.length,
      };
    });
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(raw), size: raw.length },
        layers,
      }),
    );
    manifests.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: put(manifest),
      size: manifest.length,
      ...(img.refName ? { annotations: { 'org.opencontainers.image.ref.name': img.refName } } : {}),
    });
  }
  files.set('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  files.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests })));
  return makeTar([...files].map(([name, data]) => ({ name, data })));
}
