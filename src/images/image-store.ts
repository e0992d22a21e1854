import { readdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic, ensureDir } from '../lib/atomic-file.js';
import { errnoCode, messageOf } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

export type ImageConfig = {
  architecture?: string;
  os?: string;
  created?: string;
  author?: string;
  comment?: string;
  docker_version?: string;
  config?: Record<string, unknown>;
  container_config?: Record<string, unknown>;
  history?: Record<string, unknown>[];
  rootfs?: { type: string; diff_ids: string[] };
  [k: string]: unknown;
};

export type StoredImage = {
  id: string;
  config: ImageConfig;
  /** The config's exact bytes: the image id is their sha256, so they are never re-serialised. */
  raw: string;
};

/**
 * Image configs by id (`configs/<hex>.json`, raw bytes), the name → id index
 * (`repositories.json`) and what dockerd keeps beside a config (`local.json`: parents set after
 * the fact, which images were made here), all written atomically. Kept in memory; the disk is the truth at start.
 */
export class ImageStore {
  readonly #root: string;
  readonly #log: Logger;
  readonly images = new Map<string, StoredImage>();
  /** Full reference (docker.io/library/busybox:latest) → image id. */
  readonly refs = new Map<string, string>();
  /**
   * Parents that are not in the config: a `--cache-from` image whose last step a build matched
   * is put on that build's chain, as dockerd does (its parent is image-store metadata there;
   * here the config's `parent` is part of the id, so it cannot change).
   */
  readonly #parents = new Map<string, string>();
  /**
   * Images made here (commit, a build's steps): only those are a build's local cache, as with
   * dockerd since 23, so a pulled config claiming to be some step's result is never taken for it.
   */
  readonly #builtHere = new Set<string>();

  constructor(root: string, log: Logger) {
    this.#root = root;
    this.#log = log;
  }

  async init(): Promise<void> {
    await ensureDir(join(this.#root, 'configs'));
    for (const name of await readdir(join(this.#root, 'configs'))) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      try {
        const raw = await readFile(join(this.#root, 'configs', name), 'utf8');
        const id = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
        if (id !== `sha256:${name.slice(0, -5)}`) throw new Error('content does not match its id');
        this.images.set(id, { id, raw, config: JSON.parse(raw) as ImageConfig });
      } catch (err) {
        this.#log.error({ file: name, err: messageOf(err) }, 'unreadable image config, ignoring it');
      }
    }
    try {
      const idx = JSON.parse(await readFile(this.#indexFile(), 'utf8')) as { refs: Record<string, string> };
      for (const [ref, id] of Object.entries(idx.refs)) if (this.images.has(id)) this.refs.set(ref, id);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') this.#log.error({ err: messageOf(err) }, 'unreadable image index');
    }
    try {
      const m = JSON.parse(await readFile(this.#metaFile(), 'utf8')) as { parents?: Record<string, string>; builtHere?: string[] };
      for (const [id, parent] of Object.entries(m.parents ?? {})) if (this.images.has(id) && this.images.has(parent)) this.#parents.set(id, parent);
      for (const id of m.builtHere ?? []) if (this.images.has(id)) this.#builtHere.add(id);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') this.#log.error({ err: messageOf(err) }, 'unreadable image metadata (local.json)');
    }
  }

  /**
   * The image this one was built on, if it is here: the one set by a build, else the config's.
   * A pulled or loaded image names a parent that stayed where it was built: none, as dockerd.
   */
  parentOf(img: StoredImage): string | undefined {
    const set = this.#parents.get(img.id);
    if (set !== undefined) return set;
    const p = img.config['parent'];
    return typeof p === 'string' && this.images.has(p) ? p : undefined;
  }

  /** Images whose parent is `parentId` (undefined: images with none), oldest first. */
  children(parentId: string | undefined): StoredImage[] {
    return [...this.images.values()]
      .filter((i) => this.parentOf(i) === parentId)
      .sort((a, b) => (Date.parse(a.config.created ?? '') || 0) - (Date.parse(b.config.created ?? '') || 0));
  }

  hasChildren(id: string): boolean {
    for (const i of this.images.values()) if (this.parentOf(i) === id) return true;
    return false;
  }

  async setParent(id: string, parent: string): Promise<void> {
    this.#parents.set(id, parent);
    await this.#saveMeta();
  }

  builtHere(id: string): boolean {
    return this.#builtHere.has(id);
  }

  async markBuiltHere(id: string): Promise<void> {
    if (this.#builtHere.has(id)) return;
    this.#builtHere.add(id);
    await this.#saveMeta();
  }

  async putImage(raw: string): Promise<StoredImage> {
    const hex = createHash('sha256').update(raw).digest('hex');
    const id = `sha256:${hex}`;
    const existing = this.images.get(id);
    if (existing) return existing;
    await writeFileAtomic(join(this.#root, 'configs', `${hex}.json`), raw, 0o600);
    const img = { id, raw, config: JSON.parse(raw) as ImageConfig };
    this.images.set(id, img);
    return img;
  }

  async deleteImage(id: string): Promise<void> {
    for (const [ref, target] of this.refs) if (target === id) this.refs.delete(ref);
    await this.#saveIndex();
    const hadParent = this.#parents.delete(id);
    if (this.#builtHere.delete(id) || hadParent) await this.#saveMeta();
    await rm(join(this.#root, 'configs', `${id.replace(/^sha256:/, '')}.json`), { force: true });
    this.images.delete(id);
  }

  async setRef(ref: string, id: string): Promise<void> {
    this.refs.set(ref, id);
    await this.#saveIndex();
  }

  async deleteRef(ref: string): Promise<void> {
    this.refs.delete(ref);
    await this.#saveIndex();
  }

  refsOf(id: string): string[] {
    return [...this.refs].filter(([, target]) => target === id).map(([ref]) => ref).sort();
  }

  #indexFile(): string {
    return join(this.#root, 'repositories.json');
  }

  #metaFile(): string {
    return join(this.#root, 'local.json');
  }

  async #saveMeta(): Promise<void> {
    await writeFileAtomic(this.#metaFile(), JSON.stringify({ parents: Object.fromEntries(this.#parents), builtHere: [...this.#builtHere] }));
  }

  async #saveIndex(): Promise<void> {
    await writeFileAtomic(this.#indexFile(), JSON.stringify({ refs: Object.fromEntries(this.refs) }));
  }
}
