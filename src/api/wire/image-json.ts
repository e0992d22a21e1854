import type { HistoryItem, ImageInfo, PruneReport } from '../backend.js';

function toSeconds(iso: string | undefined): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

/** One entry of `GET /images/json`. */
export function imageSummaryJson(i: ImageInfo, containers: number): Record<string, unknown> {
  const c = i.image.config;
  return {
    Id: i.image.id,
    ParentId: i.parent ?? '',
    RepoTags: i.repoTags,
    RepoDigests: i.repoDigests,
    Created: toSeconds(c.created),
    Size: i.size,
    SharedSize: -1,
    VirtualSize: i.size,
    Labels: (c.config?.['Labels'] as Record<string, string> | undefined) ?? {},
    Containers: containers,
  };
}

/** `GET /images/{name}/json`. */
export function imageInspectJson(i: ImageInfo, driver: string): Record<string, unknown> {
  const c = i.image.config;
  return {
    Id: i.image.id,
    RepoTags: i.repoTags,
    RepoDigests: i.repoDigests,
    Parent: i.parent ?? '',
    Comment: c.comment ?? '',
    Created: c.created ?? '',
    DockerVersion: c.docker_version ?? '',
    Author: c.author ?? '',
    ...(c.container_config ? { ContainerConfig: c.container_config } : {}),
    Config: c.config ?? {},
    Architecture: c.architecture ?? '',
    Os: c.os ?? '',
    Size: i.size,
    GraphDriver: { Name: driver, Data: null },
    RootFS: { Type: c.rootfs?.type ?? 'layers', Layers: c.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

/** `GET /images/{name}/history`: newest first; Tags is null where dockerd has no tags. */
export function imageHistoryJson(items: HistoryItem[]): Record<string, unknown>[] {
  return items.map((h) => ({
    Id: h.id,
    Created: toSeconds(h.created),
    CreatedBy: h.createdBy,
    Tags: h.tags.length > 0 ? h.tags : null,
    Size: h.size,
    Comment: h.comment,
  }));
}

/** `POST /images/prune`: ImagesDeleted is null when nothing went, as from dockerd. */
export function imagePruneJson(r: PruneReport): Record<string, unknown> {
  return { ImagesDeleted: r.deleted.length > 0 ? r.deleted : null, SpaceReclaimed: r.spaceReclaimed };
}
