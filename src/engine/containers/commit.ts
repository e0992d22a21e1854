import { isRunningLike, type ContainerRecord } from '../container.js';
import { INIT_PATHS } from '../changes.js';
import { conflict, messageOf } from '../../lib/errors.js';
import type { ContainerContext } from './context.js';
import type { Live } from './registry.js';

export type CommitOptions = {
  repo?: string;
  tag?: string;
  author: string;
  comment: string;
  changes: string[];
  /** The request body's Config, if the client sent one. */
  config?: Record<string, unknown>;
  /** Freeze the container while its changes are read (dockerd's default). */
  pause: boolean;
};

/**
 * `docker commit`: the container's changes become one new layer on its image. With `pause`
 * a running container is frozen for the time of the copy; the record says so first
 * (`pausedFor: 'commit'`), so that a daemon dying meanwhile unfreezes it at restore, while a
 * pause the user asked for stays.
 */
export async function commitContainer(x: ContainerContext, ref: string, o: CommitOptions): Promise<string> {
  const c = x.reg.managed(ref);
  const r = c.record;
  if (r.state.status === 'removing' || r.state.status === 'dead') throw conflict(`You cannot commit container ${r.id} which is being removed`);
  let paused = false;
  try {
    const id = await x.d.images.commit(
      {
        containerId: r.id,
        imageId: r.imageId,
        config: dockerConfig(r),
        ...(o.config ? { override: o.config } : {}),
        changes: o.changes,
        createdBy: [...r.spec.entrypoint, ...r.spec.cmd].join(' '),
        author: o.author,
        comment: o.comment,
        ...(o.repo ? { repo: o.repo } : {}),
        ...(o.tag ? { tag: o.tag } : {}),
      },
      async () => {
        if (o.pause) paused = await pauseForCommit(x, c);
        return x.d.storage.diffTar(r.id, x.layerChain(r), INIT_PATHS);
      },
    );
    x.emit('commit', c.record, { comment: o.comment });
    return id;
  } finally {
    if (paused) await resumeAfterCommit(x, c);
  }
}

async function pauseForCommit(x: ContainerContext, c: Live): Promise<boolean> {
  return x.lock.run(c.record.id, async () => {
    const st = c.record.state;
    if (st.status !== 'running') return false;
    c.record.pausedFor = 'commit';
    await x.persist(c);
    await x.d.runtime.pause(st.handle);
    c.record.state = { status: 'paused', handle: st.handle };
    await x.persist(c);
    return true;
  });
}

/**
 * Unfreeze a container a commit paused (after the commit, or at restore after a crash).
 * A container that is not frozen (the crash came before the pause) only loses the mark.
 */
export async function resumeAfterCommit(x: ContainerContext, c: Live): Promise<void> {
  await x.lock.run(c.record.id, async () => {
    if (c.record.pausedFor !== 'commit') return;
    const st = c.record.state;
    if (isRunningLike(st)) {
      await x.d.runtime.resume(st.handle).catch((err: unknown) => {
        // runc refuses to resume a container that is not paused: nothing to undo then.
        x.d.log.debug({ containerId: c.record.id, err: messageOf(err) }, 'resume after commit');
      });
      c.record.state = { status: 'running', handle: st.handle };
    }
    delete c.record.pausedFor;
    await x.persist(c);
  });
}

/** The container's configuration as an image config's `config` (Docker's spelling). */
function dockerConfig(r: ContainerRecord): Record<string, unknown> {
  const s = r.spec;
  const exposed = r.request.config['ExposedPorts'];
  const volumes = r.request.config['Volumes'];
  const onBuild = r.request.config['OnBuild'];
  const healthcheck = r.request.config['Healthcheck'];
  return {
    User: s.user,
    ...(exposed && typeof exposed === 'object' ? { ExposedPorts: exposed } : {}),
    Tty: s.tty,
    OpenStdin: s.openStdin,
    StdinOnce: s.stdinOnce,
    Env: s.env,
    Cmd: s.cmd.length > 0 ? s.cmd : null,
    ...(healthcheck && typeof healthcheck === 'object' ? { Healthcheck: healthcheck } : {}),
    ...(volumes && typeof volumes === 'object' ? { Volumes: volumes } : {}),
    WorkingDir: s.workingDir === '/' ? '' : s.workingDir,
    Entrypoint: s.entrypoint.length > 0 ? s.entrypoint : null,
    ...(Array.isArray(onBuild) ? { OnBuild: onBuild } : {}),
    Labels: s.labels,
    ...(s.stopSignal !== 'SIGTERM' ? { StopSignal: s.stopSignal } : {}),
  };
}
