import { cpus, hostname, totalmem } from 'node:os';
import type { LocalEngine, TaskContainer } from '../cluster/engine-port.js';
import { LABELS } from '../cluster/task-container.js';
import type { ContainerService } from '../engine/container-service.js';
import type { EventBus } from '../engine/events.js';
import type { ImageService } from '../images/image-service.js';
import { noProgress } from '../images/progress.js';
import { isKind } from '../lib/errors.js';

/** The engine as the swarm agent sees it: task containers are ordinary containers with swarm labels. */
export function swarmEngine(o: { containers: ContainerService; images: ImageService; events: EventBus; engineVersion: string; labels?: () => string[] }): LocalEngine {
  const { containers, images, events } = o;
  const view = (): TaskContainer[] =>
    containers
      .list()
      .filter((r) => r.spec.labels[LABELS.taskId] !== undefined)
      .map((r) => ({
        id: r.id,
        name: r.name,
        labels: r.spec.labels,
        status: r.state.status,
        ...(r.state.status === 'running' || r.state.status === 'paused' ? { pid: r.state.handle.container.pid } : {}),
        exitCode: r.exitCode,
        error: r.error,
        ...(r.health ? { health: r.health.status } : {}),
      }));
  return {
    containers: view,
    create: async (opts) => (await containers.create(opts)).id,
    start: (id) => containers.start(id),
    stop: (id, timeout) => containers.stop(id, { timeout }),
    remove: (id) => containers.remove(id, { force: true, removeVolumes: false }),
    removeTaskContainers: async (nodeId) => {
      for (const c of view().filter((x) => x.labels[LABELS.nodeId] === nodeId)) {
        await containers.remove(c.id, { force: true }).catch((err) => {
          if (!isKind(err, 'NotFound')) throw err;
        });
      }
    },
    ensureImage: async (ref) => {
      try {
        images.resolve(ref);
        return;
      } catch (err) {
        if (!isKind(err, 'NotFound')) throw err;
      }
      await images.pull(ref, undefined, { progress: noProgress });
    },
    onContainerEvent: (cb) => events.subscribe((e) => {
      if (e.type === 'container') cb(e.action, e.id);
    }),
    node: () => ({ hostname: hostname(), engineVersion: o.engineVersion, nanoCpus: cpus().length * 1e9, memoryBytes: totalmem(), labels: engineLabels(o.labels?.() ?? []) }),
  };
}

/** The daemon's `--label key=value`s as the map of a node's engine labels. */
function engineLabels(labels: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels) {
    const i = l.indexOf('=');
    out[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  return out;
}
