import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { makeTar, sha256 } from './tars.js';
import { rawRequest } from './registry.js';

export const MT = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociGzipLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociZstdLayer: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

function zstdSync(b: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c'], { input: b, maxBuffer: 1024 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`zstd: ${String(r.stderr)}`);
  return r.stdout;
}

/** Upload one blob straight into a registry repository (monolithic POST + PUT). */
export async function putBlob(base: string, repo: string, blob: Buffer, headers: Record<string, string> = {}): Promise<string> {
  const digest = sha256(blob);
  const start = await rawRequest(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { ...headers, 'Content-Length': '0' } });
  if (start.status !== 202) throw new Error(`upload start: ${start.status} ${start.body.toString()}`);
  const loc = new URL(String(start.headers['location']), base);
  loc.searchParams.set('digest', digest);
  const put = await rawRequest(loc.href, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.length) }, body: blob });
  if (put.status !== 201) throw new Error(`upload: ${put.status} ${put.body.toString()}`);
  return digest;
}

export async function putManifest(base: string, repo: string, ref: string, mediaType: string, body: Buffer, headers: Record<string, string> = {}): Promise<string> {
  const r = await rawRequest(`${base}/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { ...headers, 'Content-Type': mediaType, 'Content-Length': String(body.length) }, body });
  if (r.status !== 201) throw new Error(`manifest put: ${r.status} ${r.body.toString()}`);
  return sha256(body);
}

export type RawImage = {
  /** Uncompressed layer tars, base first. */
  tars: Buffer[];
  gzip?: boolean;
  /** zstd-compressed layers (OCI only), made with the zstd CLI. */
  zstd?: boolean;
  oci?: boolean;
  architecture?: string;
  config?: Record<string, unknown>;
};

/**
 * An image put into a registry directly (not through berth): config, layers, manifest, so
 * tests can make what berth must read (OCI, uncompressed layers, other platforms).
 */
export async function pushRawImage(base: string, repo: string, ref: string, img: RawImage): Promise<{ manifestDigest: string; manifest: Buffer; configDigest: string; size: number }> {
  const config = Buffer.from(
    JSON.stringify({
      architecture: img.architecture ?? 'amd64',
      os: 'linux',
      config: { Cmd: ['sh'], ...(img.config ?? {}) },
      created: '2024-05-06T07:08:09Z',
      history: img.tars.map((_, i) => ({ created: '2024-05-06T07:08:09Z', created_by: `layer ${i}` })),
      rootfs: { type: 'layers', diff_ids: img.tars.map((t) => sha256(t)) },
    }),
  );
  const configDigest = await putBlob(base, repo, config);
  const layers = [];
  for (const t of img.tars) {
    const blob = img.zstd ? zstdSync(t) : img.gzip ? gzipSync(t) : t;
    const mediaType = img.oci ? (img.zstd ? MT.ociZstdLayer : img.gzip ? MT.ociGzipLayer : MT.ociLayer) : MT.dockerLayer;
    layers.push({ mediaType, size: blob.length, digest: await putBlob(base, repo, blob) });
  }
  const mediaType = img.oci ? MT.ociManifest : MT.dockerManifest;
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: { mediaType: img.oci ? MT.ociConfig : MT.dockerConfig, size: config.length, digest: configDigest }, layers }));
  const manifestDigest = await putManifest(base, repo, ref, mediaType, manifest);
  return { manifestDigest, manifest, configDigest, size: manifest.length };
}

/** A layer tar holding one file with the given content. */
export function fileLayer(path: string, content: string | Buffer, mode = 0o644): Promise<Buffer> {
  const parts = path.split('/');
  const dirs = parts.slice(0, -1).map((_, i) => ({ name: `${parts.slice(0, i + 1).join('/')}/`, type: 'directory' as const, mode: 0o755 }));
  return makeTar([...dirs, { name: path, data: content, mode }]);
}

export function randomLayer(bytes: number): Promise<Buffer> {
  return fileLayer('data/random.bin', randomBytes(bytes));
}

type Rule = {
  /** Requests whose path matches. */
  match: RegExp;
  method?: string;
  /** Answer instead of the registry. */
  respond?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Forward, but cut the connection after this many body bytes (once). */
  cutAfter?: number;
  /** Forward, sending the body at most this many bytes per second. */
  bytesPerSecond?: number;
  /** Forward, sending the request body (an upload) at most this many bytes per second. */
  uploadBytesPerSecond?: number;
  once?: boolean;
};

/**
 * A small HTTP proxy in front of a registry: it records requests and can answer for it, cut
 * a transfer short or slow it down, to make the failures berth must handle.
 */
export class RegistryProxy {
  readonly #target: URL;
  #server: Server | undefined;
  port = 0;
  readonly requests: { method: string; path: string; range?: string }[] = [];
  rules: Rule[] = [];

  constructor(target: string) {
    this.#target = new URL(target);
  }

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const a = this.#server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    this.requests.push({ method: req.method ?? '', path, ...(req.headers.range ? { range: req.headers.range } : {}) });
    const i = this.rules.findIndex((r) => r.match.test(path) && (!r.method || r.method === req.method));
    const rule = i >= 0 ? this.rules[i] : undefined;
    if (rule?.once) this.rules.splice(i, 1);
    if (rule?.respond) {
      req.resume();
      rule.respond(req, res);
      return;
    }
    const headers = { ...req.headers, host: this.#target.host };
    const up = request({ host: this.#target.hostname, port: this.#target.port, path, method: req.method, headers }, (ur) => {
      const h = { ...ur.headers };
      if (h.location) h.location = h.location.replace(this.#target.host, this.addr);
      res.writeHead(ur.statusCode ?? 502, h);
      let sent = 0;
      let waiting = false;
      const cut = rule?.cutAfter;
      const rate = rule?.bytesPerSecond;
      ur.on('data', (chunk: Buffer) => {
        if (cut !== undefined && sent + chunk.length > cut) {
          res.write(chunk.subarray(0, Math.max(0, cut - sent)));
          res.socket?.destroy();
          ur.destroy();
          return;
        }
        sent += chunk.length;
        const ok = res.write(chunk);
        if (rate) {
          waiting = true;
          ur.pause();
          setTimeout(() => {
            waiting = false;
            if (!res.writableNeedDrain) ur.resume();
          }, (chunk.length / rate) * 1000);
        } else if (!ok) ur.pause();
      });
      res.on('drain', () => {
        if (!waiting) ur.resume();
      });
      ur.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    const upRate = rule?.uploadBytesPerSecond;
    if (!upRate) {
      req.pipe(up);
      return;
    }
    req.on('data', (chunk: Buffer) => {
      up.write(chunk);
      req.pause();
      setTimeout(() => req.resume(), (chunk.length / upRate) * 1000);
    });
    req.on('end', () => up.end());
    req.on('error', () => up.destroy());
  }
}
