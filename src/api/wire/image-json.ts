import type { ImageInfo } from '../../images/image-service.js';

function toSeconds(iso: string | undefined): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

/** One entry of `GET /images/json`. */
export function imageSummaryJson(i: ImageInfo, containers: number): Record<string, unknown> {
  const c = i.image.config;
  return {
    Id: i.image.id,
    ParentId: '',
    RepoTags: i.repoTags,
    RepoDigests: [],
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
    RepoDigests: [],
    Parent: '',
    Comment: c.comment ?? '',
    Created: c.created ?? '',
    DockerVersion: c.docker_version ?? '',
    Author: c.author ?? '',
    Config: c.config ?? {},
    Architecture: c.architecture ?? '',
    Os: c.os ?? '',
    Size: i.size,
    GraphDriver: { Name: driver, Data: null },
    RootFS: { Type: c.rootfs?.type ?? 'layers', Layers: c.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}
