import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ImageStore, type ImageConfig, type StoredImage } from './image-store.js';
import type { LayerStore } from '../storage/layer-store.js';
import { applyChanges } from './changes.js';
import {
  familiarString,
  fullString,
  isFullImageId,
  looksLikeIdPrefix,
  parseReference,
  withDefaultTag,
  type ImageRef,
} from './reference.js';
import { conflict, invalidParameter, notFound, BerthError } from '../lib/errors.js';
import { shortId } from '../lib/ids.js';
import { Mutex } from '../lib/mutex.js';

export type ImageUser = { id: string; running: boolean };

export type ImageDeleteItem = { Untagged?: string; Deleted?: string };

export type ImageInfo = {
  image: StoredImage;
  repoTags: string[];
  size: number;
  topLayer: string | undefined;
  chainIds: string[];
};

/** Images: import, lookup by name, id or id prefix, tag and delete (with Docker's rules). */
export class ImageService {
  readonly #store: ImageStore;
  readonly #layers: LayerStore;
  readonly #usedBy: (imageId: string) => ImageUser[];
  readonly #engineVersion: string;
  readonly #lock = new Mutex();

  constructor(store: ImageStore, layers: LayerStore, usedBy: (imageId: string) => ImageUser[], engineVersion: string) {
    this.#store = store;
    this.#layers = layers;
    this.#usedBy = usedBy;
    this.#engineVersion = engineVersion;
  }

  /** `docker import`: a root filesystem tarball becomes a one-layer image. */
  async importRootfs(
    tar: Readable,
    opts: { repo?: string; tag?: string; changes: string[]; message?: string; source: string; signal?: AbortSignal },
  ): Promise<string> {
    let ref: ImageRef | undefined;
    if (opts.repo) {
      ref = parseReference(opts.repo);
      if (opts.tag) {
        if (ref.tag || ref.digest) throw invalidParameter('invalid reference format');
        ref = parseReference(`${fullString(ref)}:${opts.tag}`);
      }
      ref = withDefaultTag(ref);
    }
    const runtimeConfig = applyChanges({}, opts.changes);
    const layer = await this.#layers.apply(tar, undefined, opts.signal);
    const created = new Date().toISOString();
    const config: ImageConfig = {
      architecture: 'amd64',
      ...(opts.message ? { comment: opts.message } : {}),
      config: runtimeConfig,
      created,
      docker_version: this.#engineVersion,
      history: [{ created, comment: opts.message || `Imported from ${opts.source}` }],
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    };
    return this.#lock.run(async () => {
      const img = await this.#store.putImage(JSON.stringify(config));
      if (ref) await this.#store.setRef(fullString(ref), img.id);
      return img.id;
    });
  }

  list(): ImageInfo[] {
    return [...this.#store.images.values()].map((img) => this.#info(img));
  }

  #info(img: StoredImage): ImageInfo {
    const chainIds = chainIdsOf(img.config);
    const present = chainIds.filter((c) => this.#layers.has(c));
    const size = present.reduce((n, c) => n + this.#layers.get(c).size, 0);
    return {
      image: img,
      repoTags: this.#store.refsOf(img.id).map((r) => familiarString(parseReference(r))),
      size,
      topLayer: chainIds[chainIds.length - 1],
      chainIds,
    };
  }

  /** Find an image the way dockerd does: full id, then name, then unique id prefix. */
  resolve(refOrId: string): ImageInfo {
    const found = this.#find(refOrId);
    if (!found) throw notFound(`No such image: ${displayName(refOrId)}`);
    return this.#info(found);
  }

  #find(refOrId: string): StoredImage | undefined {
    if (isFullImageId(refOrId)) {
      const id = refOrId.startsWith('sha256:') ? refOrId : `sha256:${refOrId}`;
      const img = this.#store.images.get(id);
      if (img) return img;
    }
    let ref: ImageRef | undefined;
    try {
      ref = withDefaultTag(parseReference(refOrId));
    } catch (err) {
      if (!(err instanceof BerthError) || !looksLikeIdPrefix(refOrId)) throw err;
    }
    if (ref) {
      const id = this.#store.refs.get(fullString(ref));
      if (id) return this.#store.images.get(id);
    }
    if (looksLikeIdPrefix(refOrId)) {
      const prefix = refOrId.replace(/^sha256:/, '');
      const matches = [...this.#store.images.keys()].filter((id) => id.slice(7).startsWith(prefix));
      if (matches.length === 1) return this.#store.images.get(matches[0] as string);
    }
    return undefined;
  }

  async tag(source: string, repo: string, tag: string | undefined): Promise<void> {
    const img = this.resolve(source).image;
    let ref = parseReference(repo);
    if (tag) {
      if (ref.tag || ref.digest) throw invalidParameter('invalid reference format');
      ref = parseReference(`${fullString(ref)}:${tag}`);
    }
    if (ref.digest) throw invalidParameter('refusing to create a tag with a digest reference');
    await this.#lock.run(() => this.#store.setRef(fullString(withDefaultTag(ref)), img.id));
  }

  /** `docker rmi`, with dockerd's conflict rules for shared and in-use images. */
  remove(refOrId: string, force: boolean): Promise<ImageDeleteItem[]> {
    return this.#lock.run(async () => {
      const img = this.#find(refOrId);
      if (!img) throw notFound(`No such image: ${displayName(refOrId)}`);
      const out: ImageDeleteItem[] = [];
      const users = this.#usedBy(img.id);
      const refs = this.#store.refsOf(img.id);
      const byName = !isIdLike(refOrId, img.id) && refs.length > 0;
      if (byName) {
        const ref = fullString(withDefaultTag(parseReference(refOrId)));
        if (refs.length > 1 || (users.length > 0 && force)) {
          await this.#store.deleteRef(ref);
          return [{ Untagged: familiarString(parseReference(ref)) }];
        }
        const user = users[0];
        if (user) {
          throw conflict(
            `conflict: unable to remove repository reference "${refOrId}" (must force) - container ${shortId(user.id)} is using its referenced image ${shortId(img.id)}`,
          );
        }
      } else {
        const running = users.find((u) => u.running);
        if (running) {
          throw conflict(
            `conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image is being used by running container ${shortId(running.id)}`,
          );
        }
        if (refs.length > 1 && !force) {
          throw conflict(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is referenced in multiple repositories`);
        }
        const stopped = users[0];
        if (stopped && !force) {
          throw conflict(
            `conflict: unable to delete ${shortId(img.id)} (must be forced) - image is being used by stopped container ${shortId(stopped.id)}`,
          );
        }
      }
      for (const r of this.#store.refsOf(img.id)) out.push({ Untagged: familiarString(parseReference(r)) });
      if (users.length > 0) {
        // Forced removal of an image a container uses only untags it, as Docker does.
        for (const r of this.#store.refsOf(img.id)) await this.#store.deleteRef(r);
        return out;
      }
      const chain = chainIdsOf(img.config);
      await this.#store.deleteImage(img.id);
      out.push({ Deleted: img.id });
      for (const chainId of chain.reverse()) {
        if (this.#layerInUse(chainId)) break;
        if (this.#layers.has(chainId)) {
          await this.#layers.remove(chainId);
          out.push({ Deleted: chainId });
        }
      }
      return out;
    });
  }

  #layerInUse(chainId: string): boolean {
    for (const img of this.#store.images.values()) if (chainIdsOf(img.config).includes(chainId)) return true;
    return false;
  }

  /** Layers still referenced by images or by the given container top layers. */
  referencedLayers(): Set<string> {
    const s = new Set<string>();
    for (const img of this.#store.images.values()) for (const c of chainIdsOf(img.config)) s.add(c);
    return s;
  }
}

export function chainIdsOf(config: ImageConfig): string[] {
  const out: string[] = [];
  let prev: string | undefined;
  for (const diff of config.rootfs?.diff_ids ?? []) {
    prev = prev ? `sha256:${createHash('sha256').update(`${prev} ${diff}`).digest('hex')}` : diff;
    out.push(prev);
  }
  return out;
}

function isIdLike(s: string, id: string): boolean {
  const hex = s.replace(/^sha256:/, '');
  return looksLikeIdPrefix(s) && id.slice(7).startsWith(hex);
}

/** Docker names a missing image with its default tag: `No such image: busybox:latest`. */
function displayName(refOrId: string): string {
  try {
    if (isFullImageId(refOrId)) return refOrId;
    return familiarString(withDefaultTag(parseReference(refOrId)));
  } catch {
    return refOrId;
  }
}
