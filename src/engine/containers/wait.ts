import { isRunningLike } from '../container.js';
import type { ContainerContext } from './context.js';

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';
export type WaitResult = { statusCode: number; error?: string };

/**
 * `docker wait`. Validates now (so a missing container is a 404 before the API commits to a
 * 200) and returns the waiting part as a promise.
 */
export function waitFor(x: ContainerContext, ref: string, condition: WaitCondition, signal?: AbortSignal): Promise<WaitResult> {
  const c = x.reg.find(ref);
  const result = (): WaitResult => ({
    statusCode: c.record.exitCode,
    ...(c.record.error ? { error: c.record.error } : {}),
  });
  if (condition === 'not-running' && !isRunningLike(c.record.state) && c.record.state.status !== 'restarting') {
    return Promise.resolve(result());
  }
  const event = condition === 'removed' ? 'removed' : 'exited';
  return new Promise((resolve, reject) => {
    const onEvent = () => {
      cleanup();
      resolve(result());
    };
    const onRemoved = () => {
      // Removed before it exited again: report what it last had.
      cleanup();
      resolve(result());
    };
    const onAbort = () => {
      cleanup();
      reject(signal?.reason);
    };
    const cleanup = () => {
      c.events.off(event, onEvent);
      c.events.off('removed', onRemoved);
      signal?.removeEventListener('abort', onAbort);
    };
    c.events.on(event, onEvent);
    if (event !== 'removed') c.events.on('removed', onRemoved);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
