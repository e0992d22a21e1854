import type { AttachSession, AttachStreams } from '../ports.js';
import { conflict, messageOf } from '../../lib/errors.js';
import type { ContainerContext } from './context.js';
import type { PendingAttach } from './registry.js';

/** A pending or live attachment of a client to a container's stdio. */
export type AttachRequest = {
  ready: Promise<AttachSession>;
  cancel(): void;
};

/**
 * Connect a client to a container's stdio through its monitor: at once if it runs,
 * otherwise when it next starts, before its first instruction runs.
 */
export function attachTo(x: ContainerContext, ref: string, streams: AttachStreams): AttachRequest {
  const c = x.reg.managed(ref);
  const state = c.record.state;
  if (state.status === 'paused') throw conflict(`container ${ref} is paused, unpause the container before attach`);
  if (state.status === 'running') {
    const ready = x.d.runtime.attach(state.handle, streams).catch((err: unknown) => {
      x.d.log.error({ err: messageOf(err), containerId: c.record.id }, 'cannot attach to the container');
      throw err;
    });
    return { ready, cancel: () => undefined };
  }
  let pending!: PendingAttach;
  const ready = new Promise<AttachSession>((resolve, reject) => {
    pending = { streams, resolve, reject };
  });
  c.pendingAttach.add(pending);
  return {
    ready,
    cancel: () => {
      c.pendingAttach.delete(pending);
    },
  };
}
