import { mkdir, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { build, type BuildHost, type BuildImage, type BuildOptions, type BuildOutput, type StepContainer } from '../builder/index.js';
import type { BuildBackend } from '../api/backend.js';
import type { ContainerService } from '../engine/container-service.js';
import type { ImageService } from '../images/image-service.js';
import type { StoredImage } from '../images/image-store.js';
import { familiarString, parseReference, withDefaultTag } from '../images/reference.js';
import { parseCreateBody } from '../api/wire/create-request.js';
import { messageOf } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Progress } from '../images/progress.js';

type Deps = {
  images: ImageService;
  containers: ContainerService;
  tmpDir: string;
  tarDirectory: (dir: string) => Promise<{ stream: Readable; done: Promise<void> }>;
  log: Logger;
};

/**
 * The builder's view of berth: steps' images through the image service, RUN containers
 * through the container service (created, attached, started, waited for, as `docker run`
 * does), one scratch directory per build under `<data-root>/tmp` (emptied at start).
 */
export function buildBackend(d: Deps): BuildBackend {
  return {
    build: async (body: Readable, o: BuildOptions, out: BuildOutput, signal: AbortSignal) => {
      const dir = join(d.tmpDir, `build-${randomBytes(8).toString('hex')}`);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      try {
        return await build(host(d, dir), body, o, out, signal);
      } finally {
        await rm(dir, { recursive: true, force: true }).catch((err: unknown) => d.log.warn({ dir, err: messageOf(err) }, 'cannot remove a build directory'));
      }
    },
  };
}

function view(i: StoredImage, parent: string | undefined): BuildImage {
  return {
    id: i.id,
    ...(parent !== undefined ? { parent } : {}),
    config: i.config.config ?? {},
    ...(i.config.container_config ? { containerConfig: i.config.container_config } : {}),
    history: i.config.history ?? [],
    diffIds: i.config.rootfs?.diff_ids ?? [],
  };
}

function host(d: Deps, dir: string): BuildHost {
  const { images, containers } = d;
  const commits = images.commits;
  return {
    scratchDir: async () => dir,
    tarDirectory: d.tarDirectory,
    images: {
      find: (ref) => {
        try {
          const info = images.resolve(ref);
          return view(info.image, info.parent);
        } catch {
          return undefined;
        }
      },
      pull: (ref, o) =>
        images.pull(ref, undefined, {
          ...(o.platform ? { platform: o.platform } : {}),
          ...(o.registryConfig ? { registryConfig: o.registryConfig } : {}),
          ...(o.auth ? { auth: o.auth } : {}),
          progress: o.progress as Progress,
          signal: o.signal,
        }),
      children: (parentId) => commits.buildChildren(parentId).map((i) => view(i, parentId)),
      commit: (req) =>
        commits.addBuildStep({
          ...(req.parentId ? { parentId: req.parentId } : {}),
          config: req.config,
          containerConfig: req.containerConfig,
          createdBy: req.createdBy,
          ...(req.author ? { author: req.author } : {}),
          ...(req.containerId ? { layer: () => containers.diffTar(req.containerId as string) } : req.layer ? { layer: req.layer } : {}),
        }),
      restore: (req) => commits.restoreBuildStep(req),
      adopt: (imageId, parentId) => commits.adoptCacheImage(imageId, parentId),
      tag: (id, ref) => images.tag(id, ref, undefined),
      normalizeTag: (ref) => familiarString(withDefaultTag(parseReference(ref))),
    },
    containers: {
      create: async (s: StepContainer) => (await containers.create(createOptions(s))).id,
      run: (id, out, signal) => runToExit(containers, id, out, signal),
      remove: (id) => containers.remove(id, { force: true, removeVolumes: true }),
      withRootfs: (id, fn) => containers.withRootfs(id, fn),
    },
  };
}

function createOptions(s: StepContainer) {
  return parseCreateBody(
    {
      Image: s.image,
      Cmd: s.cmd,
      // The image's entrypoint never wraps a build step.
      Entrypoint: [''],
      Env: s.env,
      User: s.user,
      WorkingDir: s.workingDir,
      Labels: s.labels,
      HostConfig: { NetworkMode: s.networkMode, ...(s.shmSize ? { ShmSize: s.shmSize } : {}), ExtraHosts: s.extraHosts },
    },
    undefined,
    undefined,
  );
}

/** Attach, start, stream the output until it ends, and return the exit code. */
async function runToExit(containers: ContainerService, id: string, out: (stream: 'stdout' | 'stderr', data: Buffer) => void, signal: AbortSignal): Promise<number> {
  const attach = containers.attach(id, { stdin: false, stdout: true, stderr: true });
  const exited = containers.wait(id, 'next-exit');
  const onAbort = () => void containers.kill(id, 'SIGKILL').catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  // Output is taken from the moment the monitor connects, before the step's first instruction.
  const drained = attach.ready.then((session) => {
    const closed = new Promise<void>((resolve) => session.onClose(resolve));
    session.onData(out);
    return closed;
  });
  try {
    try {
      await containers.start(id);
    } catch (err) {
      attach.cancel();
      drained.catch(() => undefined);
      throw err;
    }
    const { statusCode } = await exited;
    await drained;
    signal.throwIfAborted();
    return statusCode;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
