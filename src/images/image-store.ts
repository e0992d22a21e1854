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
 * Image configs by id (`configs/<hex>.json`, raw bytes) and the name → id index
 * (`repositories.json`), both written atomically. Kept in memory; the disk is the truth at start.
 */
export class ImageStore {
  readonly #root: string;
  readonly #log: Logger;
  readonly images = new Map<string, StoredImage>();
  /** Full reference (docker.io/library/busybox:latest) → image id. */
  readonly refs = new Map<string, string>();

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

  async #saveIndex(): Promise<void> {
    await writeFileAtomic(this.#indexFile(), JSON.stringify({ refs: Object.fromEntries(this.refs) }));
  }
}
