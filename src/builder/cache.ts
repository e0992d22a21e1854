import { cacheKey } from './state.js';
import type { BuildImage, BuildImages, RunConfig } from './ports.js';

/**
 * The classic builder's cache. Without `--cache-from`: an image made here on the same parent
 * whose key (`container_config`) is the step's. With it, that local hit counts only when it is
 * on the chain of one of the given images; failing that, a given image whose history starts
 * with the parent's (same entries, same layers) and whose next entry was made by the same
 * instruction (`created_by` is the step's command) is used: its last entry is the image
 * itself, an earlier one is restored as a new image on the parent with that entry's layer.
 * Once one image served so, the rest of the build matches only against it (as dockerd).
 */
export class BuildCache {
  readonly #images: BuildImages;
  readonly #off: boolean;
  /** `--cache-from` images (undefined: none given), and every image on their chains. */
  #sources: BuildImage[] | undefined;
  readonly #onChains = new Set<string>();

  constructor(images: BuildImages, opts: { noCache: boolean; cacheFrom: string[] }) {
    this.#images = images;
    this.#off = opts.noCache;
    if (opts.cacheFrom.length === 0) return;
    // As dockerd, a name that is not here is skipped: a cache source is never pulled.
    this.#sources = opts.cacheFrom.map((r) => images.find(r)).filter((i): i is BuildImage => i !== undefined);
    for (const src of this.#sources) {
      for (let img: BuildImage | undefined = src; img && !this.#onChains.has(img.id); img = img.parent ? images.find(img.parent) : undefined) this.#onChains.add(img.id);
    }
  }

  /** The image to reuse for this step on `parentId`, if any: `key` is its cache key, `config` the config it leaves. */
  async probe(parentId: string | undefined, key: RunConfig, config: RunConfig): Promise<string | undefined> {
    if (this.#off) return undefined;
    const want = cacheKey(key);
    const local = this.#images.children(parentId).filter((i) => i.containerConfig && cacheKey(i.containerConfig) === want);
    const sources = this.#sources;
    if (!sources) return local[local.length - 1]?.id;
    const onChain = local.filter((i) => this.#onChains.has(i.id));
    if (onChain.length > 0) return onChain[onChain.length - 1]?.id;

    const parent = parentId !== undefined ? this.#images.find(parentId) : undefined;
    const at = parent?.history.length ?? 0;
    const createdBy = ((key['Cmd'] as string[] | undefined) ?? []).join(' ');
    for (const src of sources) {
      if (!startsWith(src, parent) || src.history[at]?.['created_by'] !== createdBy) continue;
      if (at === src.history.length - 1) {
        if (parentId !== undefined) await this.#images.adopt(src.id, parentId);
        return src.id;
      }
      const id = await this.#images.restore({ ...(parentId !== undefined ? { parentId } : {}), sourceId: src.id, index: at, config, containerConfig: key });
      this.#sources = [src];
      return id;
    }
    return undefined;
  }
}

/** Whether `img`'s history and layers begin with all of `parent`'s, and go further. */
function startsWith(img: BuildImage, parent: BuildImage | undefined): boolean {
  if (img.history.length === 0) return false;
  if (!parent || (parent.history.length === 0 && parent.diffIds.length === 0)) return true;
  if (parent.history.length >= img.history.length || parent.diffIds.length > img.diffIds.length) return false;
  return parent.history.every((h, i) => sameJson(h, img.history[i])) && parent.diffIds.every((d, i) => d === img.diffIds[i]);
}

function sameJson(a: unknown, b: unknown): boolean {
  return stable(a) === stable(b);
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}
