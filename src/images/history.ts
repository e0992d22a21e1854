import { systemError } from '../lib/errors.js';
import type { StoredImage } from './image-store.js';

export type HistoryItem = { id: string; created: string | undefined; createdBy: string; tags: string[]; size: number; comment: string };

export type HistorySources = {
  /** The size of a layer by chain id (0 when it is not here). */
  layerSize(chainId: string): number;
  /** The image an image was built on, if it is here. */
  parentOf(img: StoredImage): StoredImage | undefined;
  tagsOf(img: StoredImage): string[];
};

/**
 * `docker history`: the config's history, newest first, with the size of each layer; the
 * image and the parents kept here (a build's steps) name the entries they added, the others
 * are `<missing>`, as dockerd shows them.
 */
export function imageHistory(image: StoredImage, chainIds: string[], o: HistorySources): HistoryItem[] {
  const diffIds = image.config.rootfs?.diff_ids ?? [];
  const items: HistoryItem[] = [];
  let layer = 0;
  for (const h of image.config.history ?? []) {
    let size = 0;
    if (h['empty_layer'] !== true) {
      if (layer >= diffIds.length) throw systemError('too many non-empty layers in History section');
      size = o.layerSize(chainIds[layer] as string);
      layer++;
    }
    const str = (k: string) => (typeof h[k] === 'string' ? (h[k] as string) : '');
    items.unshift({ id: '<missing>', created: str('created') || undefined, createdBy: str('created_by'), tags: [], size, comment: str('comment') });
  }
  for (let img: StoredImage | undefined = image; img; img = o.parentOf(img)) {
    const at = items.length - (img.config.history?.length ?? 0);
    const item = items[at];
    if (item && item.id === '<missing>') Object.assign(item, { id: img.id, tags: o.tagsOf(img) });
  }
  return items;
}
