import { isRunningLike } from '../container.js';
import { applyUpdate, checkUpdate, hostConfigAfter, limitsOf, type ResourceUpdate } from '../resource-update.js';
import { BerthError, conflict, invalidParameter, messageOf, systemError } from '../../lib/errors.js';
import type { ContainerContext } from './context.js';

/**
 * `docker update`: Docker's checks, then the record (so a restart and a live restore keep the
 * new limits), then the live cgroup of a running or paused container. A runtime that refuses
 * the limits leaves the record as it was.
 */
export async function updateContainer(x: ContainerContext, ref: string, raw: ResourceUpdate): Promise<{ warnings: string[] }> {
  const { update, warnings } = checkUpdate(raw, x.d.host());
  const c = x.reg.managed(ref);
  await x.lock.run(c.record.id, async () => {
    const r = c.record;
    const cannot = (msg: string) => `Cannot update container ${r.id}: ${msg}`;
    if (r.state.status === 'removing' || r.state.status === 'dead') throw conflict(cannot('container is marked for removal and cannot be "update"'));
    let spec;
    try {
      spec = applyUpdate(r.spec, update);
    } catch (err) {
      throw err instanceof BerthError ? new BerthError(err.kind, cannot(err.message)) : err;
    }
    const before = { spec: r.spec, hostConfig: r.request.hostConfig };
    r.spec = spec;
    r.request = { ...r.request, hostConfig: { ...r.request.hostConfig, ...hostConfigAfter(spec, update) } };
    await x.persist(c);
    if (!isRunningLike(r.state)) return;
    try {
      await x.d.runtime.update(r.state.handle, limitsOf(spec));
    } catch (err) {
      // The container's process ended between the state read above and runc (its exit not
      // handled yet): an update of a stopped container, kept for its next start, as the
      // update of one whose exit was seen (a 500 found by the fuzzer when its fixture's sleep ended).
      if (/\bcontainer not running\b/.test(messageOf(err))) return;
      r.spec = before.spec;
      r.request = { ...r.request, hostConfig: before.hostConfig };
      await x.persist(c).catch((e: unknown) => x.d.log.error({ err: messageOf(e), containerId: r.id }, 'cannot restore the record after a failed update'));
      // The kernel refusing a value it was given to write (pids.max past its limit, say), or
      // clamping cpu.shares to its range (runc reads it back and says so), is the request's
      // fault: a 400, with runc's words (the cpu-shares one a 500 found by the fuzzer, seed 3641523766).
      const msg = messageOf(err);
      throw /: invalid argument\b|the (?:maximum|minimum) allowed cpu-shares is/.test(msg) ? invalidParameter(cannot(msg), err) : systemError(cannot(msg), err);
    }
  });
  x.emit('update', c.record);
  return { warnings };
}
