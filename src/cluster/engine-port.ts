import type { CreateOptions } from '../engine/create-options.js';

/**
 * What the swarm agent needs of the node's engine, built by the daemon from the engine's
 * public services: task containers are ordinary berth containers, found again by their
 * `com.docker.swarm.task.id` label (the engine never imports cluster code).
 */
export type TaskContainer = {
  id: string;
  name: string;
  labels: Record<string, string>;
  status: 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'removing' | 'dead';
  pid?: number;
  exitCode: number;
  error: string;
  /** Health as the engine's health checks report it (undefined without a check). */
  health?: 'starting' | 'healthy' | 'unhealthy';
};

export interface LocalEngine {
  containers(): TaskContainer[];
  create(o: CreateOptions): Promise<string>;
  start(id: string): Promise<void>;
  stop(id: string, timeoutSeconds: number): Promise<void>;
  remove(id: string): Promise<void>;
  /** Swarm leave: every task container of this node, stopped and removed. */
  removeTaskContainers(nodeId: string): Promise<void>;
  /** Whether the image is here; pulls it (from its registry) if not. */
  ensureImage(ref: string): Promise<void>;
  /** Container events: `die`, `start`, `destroy`, `health_status`. */
  onContainerEvent(cb: (action: string, id: string) => void): () => void;
  /** The node's description; `labels` are the daemon's `--label`s (Docker's engine labels). */
  node(): { hostname: string; engineVersion: string; nanoCpus: number; memoryBytes: number; labels?: Record<string, string> };
}
