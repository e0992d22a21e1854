import type { Readable } from 'node:stream';
import type { ImageConfig, ImageStore, StoredImage } from './image-store.js';
import type { LayerMeta, LayerStore } from '../storage/index.js';
import { applyChanges } from './changes.js';
import { familiarString, fullString, parseReference, withDefaultTag, type ImageRef } from './reference.js';
import { invalidParameter, notFound, systemError } from '../lib/errors.js';
import type { Mutex } from '../lib/mutex.js';
import type { CommitRequest, EventBus } from '../engine/ports.js';
import { chainIdsOf } from './load.js';

/** A build step's image as the builder asks for it (see `addBuildStep`). */
export type BuildImageRequest = {
  parentId?: string;
  config: Record<string, unknown>;
  containerConfig: Record<string, unknown>;
  createdBy: string;
  author?: string;
  layer?: () => Promise<{ stream: Readable; done: Promise<void> }>;
};

/** A step found in a `--cache-from` image: entry `index` of `sourceId`'s history, on `parentId`. */
export type RestoreStepRequest = {
  parentId?: string;
  sourceId: string;
  index: number;
  config: Record<string, unknown>;
  containerConfig: Record<string, unknown>;
};

export type CommitDeps = {
  store: ImageStore;
  layers: LayerStore;
  /** The image service's lock: every change of the store goes through it. */
  lock: Mutex;
  engineVersion: string;
  events?: EventBus;
  /** Keep layers from being removed while a new image is made on them. */
  pin(ids: string[]): () => void;
  layerInUse(chainId: string): boolean;
};

/** The diff id of an empty tar (1024 zero bytes): a commit without changes adds no layer. */
const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

/**
 * The images berthd makes itself: `docker commit`, `docker import`, and each step of a build
 * in the classic builder's model — an image whose parent is the previous step's and whose
 * `container_config` is the key the cache finds it by, a step restored from a `--cache-from`
 * image, and that image put on the build's chain when its last step matched.
 */
export class ImageCommits {
  readonly #d: CommitDeps;

  constructor(deps: CommitDeps) {
    this.#d = deps;
  }

  /**
   * `docker commit`: the parent image plus one layer of the container's changes (none when
   * the container changed nothing, as dockerd does), with the container's configuration
   * and the `--change` instructions; history gains the commit.
   */
  async commitContainer(req: CommitRequest, diff: () => Promise<{ stream: Readable; done: Promise<void> }>): Promise<string> {
    const d = this.#d;
    let ref: ImageRef | undefined;
    if (req.repo) {
      ref = parseReference(req.repo);
      if (req.tag) {
        if (ref.tag || ref.digest) throw invalidParameter('invalid reference format');
        ref = parseReference(`${fullString(ref)}:${req.tag}`);
      }
      if (ref.digest) throw invalidParameter('refusing to create a tag with a digest reference');
      ref = withDefaultTag(ref);
    }
    const parent = d.store.images.get(req.imageId);
    if (!parent) throw notFound(`No such image: ${req.imageId}`);
    let runtimeConfig: Record<string, unknown> = { ...(parent.config.config ?? {}), ...req.config };
    if (req.override) for (const [k, v] of Object.entries(req.override)) if (!isEmptyValue(v)) runtimeConfig[k] = v;
    runtimeConfig = applyChanges(runtimeConfig, req.changes);
    const layer = await this.#applyOn(parent, diff);
    const empty = layer.diffId === EMPTY_LAYER_DIFF_ID;
    const created = new Date().toISOString();
    const config: ImageConfig = {
      ...(parent.config.architecture ? { architecture: parent.config.architecture } : { architecture: 'amd64' }),
      ...(req.author ? { author: req.author } : {}),
      ...(req.comment ? { comment: req.comment } : {}),
      config: runtimeConfig,
      container: req.containerId,
      created,
      docker_version: d.engineVersion,
      history: [
        ...(parent.config.history ?? []),
        { created, ...(req.author ? { author: req.author } : {}), created_by: req.createdBy, ...(req.comment ? { comment: req.comment } : {}), ...(empty ? { empty_layer: true } : {}) },
      ],
      os: parent.config.os ?? 'linux',
      parent: parent.id,
      rootfs: { type: 'layers', diff_ids: [...(parent.config.rootfs?.diff_ids ?? []), ...(empty ? [] : [layer.diffId])] },
    };
    return d.lock.run(async () => {
      if (empty && !d.layerInUse(layer.chainId)) await d.layers.remove(layer.chainId);
      const img = await d.store.putImage(JSON.stringify(config));
      await d.store.markBuiltHere(img.id);
      if (ref) await d.store.setRef(fullString(ref), img.id);
      return img.id;
    });
  }

  /** `docker import`: a root filesystem tarball becomes a one-layer image. */
  async importRootfs(
    tar: Readable,
    opts: { repo?: string; tag?: string; changes: string[]; message?: string; source: string; signal?: AbortSignal },
  ): Promise<string> {
    const d = this.#d;
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
    const layer = await d.layers.apply(tar, undefined, opts.signal ? { signal: opts.signal } : {});
    const created = new Date().toISOString();
    const config: ImageConfig = {
      architecture: 'amd64',
      ...(opts.message ? { comment: opts.message } : {}),
      config: runtimeConfig,
      created,
      docker_version: d.engineVersion,
      history: [{ created, comment: opts.message || `Imported from ${opts.source}` }],
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    };
    return d.lock.run(async () => {
      const img = await d.store.putImage(JSON.stringify(config));
      if (ref) await d.store.setRef(fullString(ref), img.id);
      d.events?.emit('image', 'import', img.id, ref ? { name: familiarString(ref) } : {});
      return img.id;
    });
  }

  /**
   * A build step's image: the parent image (none for a first layer on scratch) plus the layer
   * `layer` yields, if any, with the step's config and the config it is found again by
   * (`container_config`, the cache's key). An empty layer adds none.
   */
  async addBuildStep(req: BuildImageRequest): Promise<string> {
    const d = this.#d;
    const parent = this.#parent(req.parentId);
    const layer = req.layer ? await this.#applyOn(parent, req.layer) : undefined;
    const empty = !layer || layer.diffId === EMPTY_LAYER_DIFF_ID;
    const created = new Date().toISOString();
    const author = req.author ? { author: req.author } : {};
    const entry = { created, ...author, created_by: req.createdBy, ...(empty ? { empty_layer: true } : {}) };
    const config = this.#stepConfig(parent, req, { created, ...author, architecture: parent?.config.architecture, os: parent?.config.os }, entry, empty ? undefined : layer?.diffId);
    return d.lock.run(async () => {
      if (layer && empty && !d.layerInUse(layer.chainId)) await d.layers.remove(layer.chainId);
      return this.#putStep(config);
    });
  }

  /**
   * A step a build found in a `--cache-from` image, made as dockerd's cache makes it: the
   * parent's history and layers plus the source's history entry `index` (kept as it is, its
   * time included) and the layer that entry made. The source's layers below that entry are
   * the parent's (the caller checked), so that layer is here already.
   */
  async restoreBuildStep(req: RestoreStepRequest): Promise<string> {
    const d = this.#d;
    const parent = this.#parent(req.parentId);
    const source = d.store.images.get(req.sourceId);
    if (!source) throw notFound(`No such image: ${req.sourceId}`);
    const history = source.config.history ?? [];
    const entry = history[req.index];
    if (!entry) throw invalidParameter(`image ${req.sourceId} has no history entry ${req.index}`);
    let diffId: string | undefined;
    if (entry['empty_layer'] !== true) {
      const layerIndex = history.slice(0, req.index).filter((h) => h['empty_layer'] !== true).length;
      diffId = source.config.rootfs?.diff_ids[layerIndex];
      if (diffId === undefined) throw systemError(`image ${req.sourceId}: history entry ${req.index} has no layer`);
    }
    const created = typeof entry['created'] === 'string' ? entry['created'] : new Date().toISOString();
    const base = { created, ...(source.config.author ? { author: source.config.author } : {}), architecture: source.config.architecture, os: source.config.os };
    const config = this.#stepConfig(parent, req, base, entry, diffId);
    return d.lock.run(async () => {
      const chain = chainIdsOf(config);
      const top = chain[chain.length - 1];
      if (top !== undefined && !d.layers.has(top)) throw systemError(`layer ${top} of the --cache-from image ${req.sourceId} is missing`);
      return this.#putStep(config);
    });
  }

  /**
   * A `--cache-from` image whose last step a build matched is the build's result: it is put
   * on the build's chain (`parent`), as dockerd does, so that it goes with it.
   */
  adoptCacheImage(imageId: string, parentId: string): Promise<void> {
    const d = this.#d;
    return d.lock.run(async () => {
      if (!d.store.images.has(imageId)) throw notFound(`No such image: ${imageId}`);
      if (!d.store.images.has(parentId)) throw notFound(`No such image: ${parentId}`);
      if (d.store.parentOf(d.store.images.get(imageId) as StoredImage) !== parentId) await d.store.setParent(imageId, parentId);
    });
  }

  /**
   * The images a build's local cache may reuse on `parentId` (undefined: on scratch), oldest
   * first: the ones made here, never a pulled or loaded config claiming to be a step's result.
   */
  buildChildren(parentId: string | undefined): StoredImage[] {
    const d = this.#d;
    return d.store.children(parentId).filter((i) => d.store.builtHere(i.id));
  }

  #parent(parentId: string | undefined): StoredImage | undefined {
    if (parentId === undefined) return undefined;
    const parent = this.#d.store.images.get(parentId);
    if (!parent) throw notFound(`No such image: ${parentId}`);
    return parent;
  }

  /** A layer tar applied on top of `parent`'s layers, which are kept meanwhile. */
  async #applyOn(parent: StoredImage | undefined, tarOf: () => Promise<{ stream: Readable; done: Promise<void> }>): Promise<LayerMeta> {
    const d = this.#d;
    const parentChain = parent ? chainIdsOf(parent.config) : [];
    const tar = await tarOf();
    const release = d.pin(parentChain);
    try {
      const layer = await d.layers.apply(tar.stream, parentChain[parentChain.length - 1]);
      await tar.done;
      return layer;
    } finally {
      release();
    }
  }

  #stepConfig(
    parent: StoredImage | undefined,
    req: { config: Record<string, unknown>; containerConfig: Record<string, unknown> },
    base: { created: string; author?: string; architecture: string | undefined; os: string | undefined },
    entry: Record<string, unknown>,
    diffId: string | undefined,
  ): ImageConfig {
    return {
      architecture: base.architecture ?? 'amd64',
      ...(base.author ? { author: base.author } : {}),
      config: req.config,
      container_config: req.containerConfig,
      created: base.created,
      docker_version: this.#d.engineVersion,
      history: [...(parent?.config.history ?? []), entry],
      os: base.os ?? 'linux',
      ...(parent ? { parent: parent.id } : {}),
      rootfs: { type: 'layers', diff_ids: [...(parent?.config.rootfs?.diff_ids ?? []), ...(diffId !== undefined ? [diffId] : [])] },
    };
  }

  async #putStep(config: ImageConfig): Promise<string> {
    const img = await this.#d.store.putImage(JSON.stringify(config));
    await this.#d.store.markBuiltHere(img.id);
    return img.id;
  }
}

function isEmptyValue(v: unknown): boolean {
  return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
}
