/** The manifest, config and layer media types of Docker's schema 2 and of OCI images. */
export const MT = {
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  schema1: 'application/vnd.docker.distribution.manifest.v1+json',
  schema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerTarLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociGzipLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociZstdLayer: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** What a pull asks for, most wanted first (schema 1 is asked for only to refuse it by name). */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest, MT.schema1Signed, MT.schema1];

export const INDEX_TYPES: readonly string[] = [MT.ociIndex, MT.dockerList];
export const IMAGE_MANIFEST_TYPES: readonly string[] = [MT.ociManifest, MT.dockerManifest];
export const CONFIG_TYPES: readonly string[] = [MT.dockerConfig, MT.ociConfig];

/** Layer media types berth can apply (nondistributable variants included). */
export const LAYER_TYPES: readonly string[] = [
  MT.dockerLayer,
  MT.dockerForeignLayer,
  MT.dockerTarLayer,
  MT.ociLayer,
  MT.ociGzipLayer,
  MT.ociZstdLayer,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
];

export type Descriptor = {
  mediaType?: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
};

export type Platform = { os: string; architecture: string; variant?: string };

export const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** docker's GOARCH names for node's process.arch. */
export function hostPlatform(): Platform {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
  return { os: 'linux', architecture: arch, ...(arch === 'arm64' ? { variant: 'v8' } : {}) };
}

/** `linux/arm64/v8`, `linux/amd64`, `arm64` (containerd's platforms.Parse, for what berth runs). */
export function parsePlatform(s: string): Platform {
  const parts = s.toLowerCase().split('/');
  if (parts.length === 1) return normalizePlatform({ os: 'linux', architecture: parts[0] as string });
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalizePlatform({ os, architecture, ...(variant ? { variant } : {}) });
}

export function normalizePlatform(p: Platform): Platform {
  let arch = p.architecture;
  let variant = p.variant;
  if (arch === 'x86_64' || arch === 'x86-64') arch = 'amd64';
  if (arch === 'aarch64') arch = 'arm64';
  if (arch === 'arm64' && (variant === undefined || variant === '8')) variant = 'v8';
  return { os: p.os, architecture: arch, ...(variant ? { variant } : {}) };
}

export function platformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Whether a manifest list entry serves the wanted platform (arm64's v8 variant may be left out). */
export function platformMatches(entry: Platform | undefined, want: Platform): boolean {
  if (!entry) return false;
  const e = normalizePlatform(entry);
  if (e.os !== want.os || e.architecture !== want.architecture) return false;
  return want.variant === undefined || e.variant === undefined || e.variant === want.variant;
}
