import { mkdir, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ImageStore, type ImageConfig, type StoredImage } from './image-store.js';
import type { LayerStore } from '../storage/index.js';
import {
  familiarString,
  fullName,
  fullString,
  isFullImageId,
  looksLikeIdPrefix,
  parseReference,
  withDefaultTag,
  type ImageRef,
} from './reference.js';
import { conflict, invalidParameter, notFound, systemError, BerthError } from '../lib/errors.js';
import { shortId } from '../lib/ids.js';
import { Mutex } from '../lib/mutex.js';
import type { EventBus } from '../engine/ports.js';
import type { Logger } from '../lib/logger.js';
import { chainIds, chainIdsOf, loadArchive, type ArchivedImage } from './load.js';
import { ImageCommits } from './image-commits.js';
import { imageHistory, type HistoryItem } from './history.js';
import { pull } from './pull.js';
import { push } from './push.js';
import { saveImages, type SaveItem } from './save.js';
import { BlobSources } from './blob-sources.js';
import { credentialsFor, decodeRegistryAuth, decodeRegistryConfig, Registries, type Credentials } from './registry/index.js';
import { parsePlatform } from './media-types.js';
import { noProgress, type Progress } from './progress.js';

export type ImageUser = { id: string; running: boolean };

export type ImageDeleteItem = { Untagged?: string; Deleted?: string };

export type { HistoryItem } from './history.js';

export type PruneReport = { deleted: ImageDeleteItem[]; spaceReclaimed: number };

export type ImageInfo = {
  image: StoredImage;
  /** The image it was built on, if that image is here. */
  parent: string | undefined;
  repoTags: string[];
  /** `localhost:5000/app@sha256:…`: the manifests the image was pulled as or pushed as. */
  repoDigests: string[];
  size: number;
  topLayer: string | undefined;
  chainIds: string[];
};

/** Images: import, load, lookup by name, id or id prefix, tag, delete and prune (with Docker's rules). */
export class ImageService {
  readonly #store: ImageStore;
  readonly #layers: LayerStore;
  readonly #usedBy: (imageId: string) => ImageUser[];
  readonly #tmpDir: string;
  readonly #log: Logger;
  readonly #lock = new Mutex();
  readonly #events: EventBus | undefined;
  /** Layers a load in progress relies on, with how many loads do: never removed meanwhile. */
  readonly #pinned = new Map<string, number>();
  readonly registries: Registries;
  readonly #sources: BlobSources;
  /** Images made here: commit, import, a build's steps. */
  readonly commits: ImageCommits;

  constructor(
    store: ImageStore,
    layers: LayerStore,
    usedBy: (imageId: string) => ImageUser[],
    engineVersion: string,
    opts: { tmpDir: string; log: Logger; events?: EventBus; registries: Registries; sourcesFile: string },
  ) {
    this.registries = opts.registries;
    this.#sources = new BlobSources(opts.sourcesFile, opts.log);
    this.#events = opts.events;
    this.#store = store;
    this.#layers = layers;
    this.#usedBy = usedBy;
    this.#tmpDir = opts.tmpDir;
    this.#log = opts.log;
    this.commits = new ImageCommits({
      store,
      layers,
      lock: this.#lock,
      engineVersion,
      ...(opts.events ? { events: opts.events } : {}),
      pin: (ids) => this.#pin(ids),
      layerInUse: (id) => this.#layerInUse(id),
    });
  }

  /** Scratch space of loads a crash interrupted is dropped. */
  async init(): Promise<void> {
    await rm(this.#tmpDir, { recursive: true, force: true });
    await mkdir(this.#tmpDir, { recursive: true, mode: 0o700 });
    await this.#sources.init();
  }

  /**
   * `docker pull` (`POST /images/create?fromImage=`): `tag` may also be a digest, as dockerd
   * reads it; a name without tag or digest pulls every tag.
   */
  async pull(
    fromImage: string,
    tag: string | undefined,
    opts: { platform?: string; auth?: string; registryConfig?: string; progress?: Progress; signal?: AbortSignal },
  ): Promise<void> {
    let ref = parseReference(fromImage.replace(/:$/, ''));
    if (tag) {
      if (ref.tag !== undefined || ref.digest !== undefined) throw invalidParameter('invalid reference format');
      ref = parseReference(`${fullString(ref)}${/^[a-z0-9]+:[0-9a-f]{32,}$/.test(tag) ? '@' : ':'}${tag}`);
    }
    const platform = opts.platform ? parsePlatform(opts.platform) : undefined;
    // A build's pulls carry every credential the CLI has (X-Registry-Config): the registry's own is used.
    const creds: Credentials | undefined =
      opts.registryConfig !== undefined ? (credentialsFor(decodeRegistryConfig(opts.registryConfig), ref.domain) ?? decodeRegistryAuth(opts.auth)) : decodeRegistryAuth(opts.auth);
    const progress = opts.progress ?? noProgress;
    try {
      await pull(
        { ref, all: ref.tag === undefined && ref.digest === undefined, ...(platform ? { platform } : {}), ...(creds ? { creds } : {}), progress, ...(opts.signal ? { signal: opts.signal } : {}) },
        {
          registries: this.registries,
          layers: this.#layers,
          tmpDir: this.#tmpDir,
          pin: (ids) => this.#pin(ids),
          layerInUse: (id) => this.#layerInUse(id),
          commit: (img, refs) => this.#lock.run(() => this.#commitPulled(img, refs)),
          recordSource: (digest, repo) => this.#sources.add(digest, repo),
          log: this.#log,
        },
      );
    } finally {
      await this.#sources.save();
    }
  }

  /** `docker push` (`POST /images/{name}/push?tag=`): one tag, or every tag of the repository. */
  async push(name: string, tag: string | undefined, opts: { auth?: string; progress?: Progress; signal?: AbortSignal }): Promise<void> {
    let ref = parseReference(name);
    if (tag) {
      if (ref.tag !== undefined || ref.digest !== undefined) throw invalidParameter('invalid reference format');
      ref = parseReference(`${fullString(ref)}:${tag}`);
    }
    if (ref.digest !== undefined) throw invalidParameter('cannot push a digest reference');
    const creds = decodeRegistryAuth(opts.auth);
    await push(
      { ref, ...(creds ? { creds } : {}), progress: opts.progress ?? noProgress, ...(opts.signal ? { signal: opts.signal } : {}) },
      {
        registries: this.registries,
        layers: this.#layers,
        sources: this.#sources,
        tagsOf: (repo) =>
          [...this.#store.refs]
            .filter(([r]) => fullName(parseReference(r)) === repo)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([r, id]) => ({ ref: r, image: this.#store.images.get(id) as StoredImage }))
            .filter((t) => t.image !== undefined),
        recordDigest: (digestRef, imageId) =>
          this.#lock.run(async () => {
            if (this.#store.images.has(imageId)) await this.#store.setRef(digestRef, imageId);
          }),
        log: this.#log,
      },
    );
    const name2 = familiarString(ref);
    this.#events?.emit('image', 'push', name2, { name: name2 });
  }

  /**
   * `docker save`: images by name or id. A repository name alone saves each of its tags
   * (dockerd's rule); an id saves the image without names.
   */
  async save(names: string[]): Promise<{ stream: Readable; done: Promise<void> }> {
    const items = new Map<string, SaveItem>();
    const add = (image: StoredImage, ref: string | undefined) => {
      const item = items.get(image.id) ?? { image, refs: [] };
      if (ref && !item.refs.includes(ref)) item.refs.push(ref);
      items.set(image.id, item);
    };
    for (const n of names) {
      let nameOnly: ImageRef | undefined;
      try {
        const r = parseReference(n);
        if (r.tag === undefined && r.digest === undefined) nameOnly = r;
      } catch (err) {
        if (!looksLikeIdPrefix(n)) throw err;
      }
      const tagged = nameOnly
        ? [...this.#store.refs].filter(([r]) => {
            const p = parseReference(r);
            return p.digest === undefined && fullName(p) === fullName(nameOnly as ImageRef);
          })
        : [];
      if (tagged.length > 0) {
        for (const [r, id] of tagged) add(this.#store.images.get(id) as StoredImage, r);
        continue;
      }
      const info = this.resolve(n);
      let ref: string | undefined;
      try {
        const p = withDefaultTag(parseReference(n));
        if (p.digest === undefined && this.#store.refs.get(fullString(p)) === info.image.id) ref = fullString(p);
      } catch {
        ref = undefined;
      }
      add(info.image, ref);
    }
    return saveImages([...items.values()], this.#layers);
  }

  /** `docker login`: checks the credentials against the registry; nothing is kept here. */
  login(body: { username?: unknown; password?: unknown; serveraddress?: unknown; identitytoken?: unknown; registrytoken?: unknown }, signal?: AbortSignal): Promise<string> {
    const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    const creds: Credentials = {
      ...(str(body.username) ? { username: str(body.username) as string } : {}),
      ...(str(body.password) ? { password: str(body.password) as string } : {}),
      ...(str(body.identitytoken) ? { identityToken: str(body.identitytoken) as string } : {}),
      ...(str(body.registrytoken) ? { registryToken: str(body.registrytoken) as string } : {}),
    };
    return this.registries.login(str(body.serveraddress) ?? '', creds, signal);
  }

  async #commitPulled(img: { id: string; raw: string }, refs: { tag?: string; digestRef: string }): Promise<boolean> {
    for (const [i, chainId] of chainIds((JSON.parse(img.raw) as ImageConfig).rootfs?.diff_ids ?? []).entries()) {
      if (!this.#layers.has(chainId)) throw systemError(`layer ${i} of image ${img.id} went missing during the pull`);
    }
    const stored = await this.#store.putImage(img.raw);
    if (stored.id !== img.id) throw systemError(`image config ${img.id} hashed to ${stored.id}`);
    const before = refs.tag !== undefined ? this.#store.refs.get(refs.tag) : this.#store.refs.get(refs.digestRef);
    await this.#store.setRef(refs.digestRef, img.id);
    if (refs.tag !== undefined) await this.#store.setRef(refs.tag, img.id);
    const name = familiarString(parseReference(refs.tag ?? refs.digestRef));
    this.#events?.emit('image', 'pull', name, { name });
    return before !== img.id;
  }

  /** `docker load`: returns the lines dockerd prints (`Loaded image: …`). */
  async load(tar: Readable, signal?: AbortSignal, progress?: Progress): Promise<string[]> {
    const lines = await loadArchive(
      tar,
      {
        ...(progress ? { progress } : {}),
        layers: this.#layers,
        tmpDir: this.#tmpDir,
        pin: (ids) => this.#pin(ids),
        layerInUse: (id) => this.#layerInUse(id),
        commit: (images) => this.#lock.run(() => this.#commit(images)),
        log: this.#log,
      },
      signal,
    );
    for (const l of lines) {
      const m = /^Loaded image(?: ID)?: (\S+)/.exec(l);
      if (m) this.#events?.emit('image', 'load', m[1] as string, { name: m[1] as string });
    }
    return lines;
  }

  #pin(ids: string[]): () => void {
    for (const id of ids) this.#pinned.set(id, (this.#pinned.get(id) ?? 0) + 1);
    return () => {
      for (const id of ids) {
        const n = (this.#pinned.get(id) ?? 1) - 1;
        if (n > 0) this.#pinned.set(id, n);
        else this.#pinned.delete(id);
      }
    };
  }

  /** Store loaded images and point their names at them, as dockerd reports it. */
  async #commit(images: ArchivedImage[]): Promise<string[]> {
    const lines: string[] = [];
    const newImages: string[] = [];
    const oldRefs = new Map<string, string | undefined>();
    try {
      for (const a of images) {
        for (const [i, chainId] of chainIds(a.diffIds).entries()) {
          if (!this.#layers.has(chainId)) throw systemError(`layer ${i} of image ${a.id} went missing during the load`);
        }
        if (!this.#store.images.has(a.id)) newImages.push(a.id);
        const img = await this.#store.putImage(a.raw);
        for (const ref of a.refs) {
          const name = familiarString(parseReference(ref));
          const old = this.#store.refs.get(ref);
          if (!oldRefs.has(ref)) oldRefs.set(ref, old);
          if (old !== undefined && old !== img.id) {
            lines.push(`The image ${name} already exists, renaming the old one with ID ${old} to empty string\n`);
          }
          await this.#store.setRef(ref, img.id);
          lines.push(`Loaded image: ${name}\n`);
        }
        if (a.refs.length === 0) lines.push(`Loaded image ID: ${img.id}\n`);
      }
      return lines;
    } catch (err) {
      // Only our own disk fails here; put back what was there (the caller drops the layers).
      for (const [ref, old] of oldRefs) {
        await (old === undefined ? this.#store.deleteRef(ref) : this.#store.setRef(ref, old)).catch((e: unknown) =>
          this.#log.warn({ ref, err: String(e) }, 'cannot restore a name after a failed load'),
        );
      }
      for (const id of newImages) {
        await this.#store.deleteImage(id).catch((e: unknown) => this.#log.warn({ id, err: String(e) }, 'cannot remove an image of a failed load'));
      }
      throw err;
    }
  }

  /** `docker import`: a root filesystem tarball becomes a one-layer image. */
  importRootfs(tar: Readable, opts: Parameters<ImageCommits['importRootfs']>[1]): Promise<string> {
    return this.commits.importRootfs(tar, opts);
  }

  list(): ImageInfo[] {
    return [...this.#store.images.values()].map((img) => this.#info(img));
  }

  /**
   * `docker system df`: the bytes all layers take once (shared layers counted once), and per
   * image the part of its size it shares with other images.
   */
  diskUsage(): { layersSize: number; images: { info: ImageInfo; sharedSize: number }[] } {
    const infos = this.list();
    const users = new Map<string, number>();
    for (const i of infos) for (const c of new Set(i.chainIds)) users.set(c, (users.get(c) ?? 0) + 1);
    const sizeOf = (c: string) => (this.#layers.has(c) ? this.#layers.get(c).size : 0);
    const layersSize = [...users.keys()].reduce((n, c) => n + sizeOf(c), 0);
    const images = infos.map((info) => ({
      info,
      sharedSize: [...new Set(info.chainIds)].filter((c) => (users.get(c) ?? 0) > 1).reduce((n, c) => n + sizeOf(c), 0),
    }));
    return { layersSize, images };
  }

  #info(img: StoredImage): ImageInfo {
    const chainIds = chainIdsOf(img.config);
    const present = chainIds.filter((c) => this.#layers.has(c));
    const size = present.reduce((n, c) => n + this.#layers.get(c).size, 0);
    const refs = this.#store.refsOf(img.id).map((r) => parseReference(r));
    return {
      image: img,
      parent: this.#store.parentOf(img),
      repoTags: refs.filter((r) => r.digest === undefined).map((r) => familiarString(r)),
      repoDigests: refs.filter((r) => r.digest !== undefined).map((r) => familiarString(r)),
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
    this.#events?.emit('image', 'tag', img.id, { name: familiarString(withDefaultTag(ref)) });
  }

  /** `docker rmi`, with dockerd's conflict rules for shared and in-use images. */
  async remove(refOrId: string, force: boolean): Promise<ImageDeleteItem[]> {
    const out = await this.#remove(refOrId, force);
    for (const item of out) if (item.Untagged) this.#events?.emit('image', 'untag', item.Untagged, { name: item.Untagged });
    // The first Deleted entry is the image; the ones after it are its layers.
    const deleted = out.find((i) => i.Deleted)?.Deleted;
    if (deleted) this.#events?.emit('image', 'delete', deleted, { name: deleted });
    return out;
  }

  #remove(refOrId: string, force: boolean): Promise<ImageDeleteItem[]> {
    return this.#lock.run(async () => {
      const img = this.#find(refOrId);
      if (!img) throw notFound(`No such image: ${displayName(refOrId)}`);
      const users = this.#usedBy(img.id);
      const refs = this.#store.refsOf(img.id);
      const byName = !isIdLike(refOrId, img.id) && refs.length > 0;
      if (byName) {
        const named = withDefaultTag(parseReference(refOrId));
        const ref = fullString(named);
        // As dockerd: untagging the last tag of a repository also drops that repository's digests.
        const toRemove = [ref];
        if (named.digest === undefined) {
          const sameRepo = refs.map((r) => parseReference(r)).filter((r) => fullName(r) === fullName(named) && fullString(r) !== ref);
          if (!sameRepo.some((r) => r.digest === undefined)) toRemove.push(...sameRepo.map((r) => fullString(r)));
        }
        const remaining = refs.filter((r) => !toRemove.includes(r));
        if (remaining.length > 0 || (users.length > 0 && force)) {
          for (const r of toRemove) await this.#store.deleteRef(r);
          return toRemove.map((r) => ({ Untagged: familiarString(parseReference(r)) }));
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
      if (this.#store.hasChildren(img.id)) {
        // As dockerd: an image others are built on loses its names but stays for them.
        if (byName || force) {
          const out: ImageDeleteItem[] = [];
          for (const r of this.#store.refsOf(img.id)) {
            await this.#store.deleteRef(r);
            out.push({ Untagged: familiarString(parseReference(r)) });
          }
          if (out.length > 0) return out;
        }
        throw conflict(`conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image has dependent child images`);
      }
      if (users.length > 0) {
        // Forced removal of an image a stopped container uses only untags it: the container
        // still needs its layers (dockerd deletes the image and keeps the layers by refcount).
        const out: ImageDeleteItem[] = [];
        for (const r of this.#store.refsOf(img.id)) {
          await this.#store.deleteRef(r);
          out.push({ Untagged: familiarString(parseReference(r)) });
        }
        return out;
      }
      return (await this.#deleteImage(img)).deleted;
    });
  }

  /** Delete an image no container uses, then its layers no other image uses, top first. */
  async #deleteImage(img: StoredImage): Promise<PruneReport> {
    const deleted: ImageDeleteItem[] = [];
    let spaceReclaimed = 0;
    for (const r of this.#store.refsOf(img.id)) {
      await this.#store.deleteRef(r);
      deleted.push({ Untagged: familiarString(parseReference(r)) });
    }
    await this.#store.deleteImage(img.id);
    deleted.push({ Deleted: img.id });
    for (const chainId of chainIdsOf(img.config).reverse()) {
      if (this.#layerInUse(chainId)) break;
      if (!this.#layers.has(chainId)) continue;
      const size = this.#layers.get(chainId).size;
      await this.#layers.remove(chainId);
      deleted.push({ Deleted: chainId });
      spaceReclaimed += size;
    }
    // A build's intermediate images go with the last image built on them, as with dockerd.
    const parentId = this.#store.parentOf(img);
    const parent = parentId !== undefined ? this.#store.images.get(parentId) : undefined;
    if (parent && this.#store.refsOf(parent.id).length === 0 && !this.#store.hasChildren(parent.id) && this.#usedBy(parent.id).length === 0) {
      const more = await this.#deleteImage(parent);
      deleted.push(...more.deleted);
      spaceReclaimed += more.spaceReclaimed;
    }
    return { deleted, spaceReclaimed };
  }

  /**
   * `docker image prune`: images no container uses (stopped ones included) that `select`
   * keeps; only dangling ones unless `all`, as dockerd does.
   */
  prune(opts: { all: boolean; select: (i: ImageInfo) => boolean }): Promise<PruneReport> {
    return this.#lock.run(async () => {
      const report: PruneReport = { deleted: [], spaceReclaimed: 0 };
      // Images others are built on go with the last of those (#deleteImage), hence the rounds.
      for (let progress = true; progress; ) {
        progress = false;
        for (const img of [...this.#store.images.values()]) {
          if (!this.#store.images.has(img.id) || this.#store.hasChildren(img.id)) continue;
          if (this.#usedBy(img.id).length > 0) continue;
          const info = this.#info(img);
          if (!opts.all && (info.repoTags.length > 0 || info.repoDigests.length > 0)) continue;
          if (!opts.select(info)) continue;
          const r = await this.#deleteImage(img);
          report.deleted.push(...r.deleted);
          report.spaceReclaimed += r.spaceReclaimed;
          progress = true;
        }
      }
      return report;
    });
  }

  /** `docker history`: the config's history, newest first, with the size of each layer. */
  history(refOrId: string): HistoryItem[] {
    const info = this.resolve(refOrId);
    return imageHistory(info.image, info.chainIds, {
      layerSize: (c) => (this.#layers.has(c) ? this.#layers.get(c).size : 0),
      parentOf: (img) => {
        const p = this.#store.parentOf(img);
        return p !== undefined ? this.#store.images.get(p) : undefined;
      },
      tagsOf: (img) => this.#info(img).repoTags,
    });
  }

  #layerInUse(chainId: string): boolean {
    if (this.#pinned.has(chainId)) return true;
    for (const img of this.#store.images.values()) if (chainIdsOf(img.config).includes(chainId)) return true;
    return false;
  }

  /**
   * At start, after the restore pass: layers no image and no container uses are what a pull,
   * load or commit that died with the daemon had made so far. They go, top first.
   */
  async removeUnusedLayers(containerTops: Set<string>): Promise<number> {
    return this.#lock.run(async () => {
      const keep = this.referencedLayers();
      for (const top of containerTops) for (const l of this.#layers.has(top) ? this.#layers.chain(top) : []) keep.add(l.chainId);
      let removed = 0;
      for (let progress = true; progress; ) {
        progress = false;
        const all = this.#layers.all();
        for (const l of all) {
          if (keep.has(l.chainId) || all.some((o) => o.parent === l.chainId)) continue;
          this.#log.info({ chainId: l.chainId }, 'removing a layer no image uses (left by an interrupted pull, load or commit)');
          await this.#layers.remove(l.chainId);
          removed++;
          progress = true;
        }
      }
      return removed;
    });
  }

  /** Layers still referenced by images or by the given container top layers. */
  referencedLayers(): Set<string> {
    const s = new Set<string>();
    for (const img of this.#store.images.values()) for (const c of chainIdsOf(img.config)) s.add(c);
    return s;
  }
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
