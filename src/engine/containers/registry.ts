import { EventEmitter } from 'node:events';
import type { ContainerRecord } from '../container.js';
import type { AttachSession, AttachStreams } from '../ports.js';
import { conflict, invalidParameter, notFound } from '../../lib/errors.js';

export type PendingAttach = { streams: AttachStreams; resolve: (s: AttachSession) => void; reject: (e: unknown) => void };

/** A known container: its record plus what only lives in memory. */
export type Live = {
  record: ContainerRecord;
  events: EventEmitter;
  pendingAttach: Set<PendingAttach>;
  /** Docker's "exit on next": a stop (or kill with the stop signal/SIGKILL) cancels restarts. */
  exitRequested: boolean;
  monitor?: AbortController;
  /** A scheduled restart (policy backoff), cancelled by stop/rm/shutdown. */
  restartTimer?: NodeJS.Timeout;
  restartDelayMs: number;
  /** Found running but started by an incompatible daemon: visible, not managed. */
  notAdopted?: string;
};

/** The containers by id and by name, with Docker's lookup rules and name reservations. */
export class ContainerRegistry {
  readonly #byId = new Map<string, Live>();
  readonly #byName = new Map<string, string>();

  add(record: ContainerRecord): Live {
    const live: Live = { record, events: new EventEmitter(), pendingAttach: new Set(), exitRequested: false, restartDelayMs: 0 };
    live.events.setMaxListeners(0);
    this.#byId.set(record.id, live);
    this.#byName.set(record.name, record.id);
    return live;
  }

  delete(id: string): void {
    const c = this.#byId.get(id);
    this.#byId.delete(id);
    if (c && this.#byName.get(c.record.name) === id) this.#byName.delete(c.record.name);
  }

  get(id: string): Live | undefined {
    return this.#byId.get(id);
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  all(): Live[] {
    return [...this.#byId.values()];
  }

  /** Docker's lookup order: full id, exact name, then a unique id prefix. */
  find(ref: string): Live {
    const byId = this.#byId.get(ref);
    if (byId) return byId;
    const id = this.#byName.get(ref.replace(/^\//, ''));
    if (id) return this.#byId.get(id) as Live;
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = [...this.#byId.keys()].filter((k) => k.startsWith(ref));
      if (matches.length === 1) return this.#byId.get(matches[0] as string) as Live;
      if (matches.length > 1) throw invalidParameter(`Multiple IDs found with provided prefix: ${ref}`);
    }
    throw notFound(`No such container: ${ref}`);
  }

  /** Like find, for operations that need this daemon to manage the container. */
  managed(ref: string): Live {
    const c = this.find(ref);
    if (c.notAdopted) {
      throw conflict(
        `container ${c.record.id} is not managed by this daemon (${c.notAdopted}): stop it with "berth stop-unadopted ${c.record.name}"`,
      );
    }
    return c;
  }

  nameTaken(name: string): boolean {
    return this.#byName.has(name);
  }

  /**
   * Take a name for `id`, synchronously, so two concurrent creates or renames cannot both get
   * it. Returns the undo.
   */
  reserveName(name: string, id: string): () => void {
    const holder = this.#byName.get(name);
    if (holder) {
      throw conflict(
        `Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    this.#byName.set(name, id);
    return () => {
      if (this.#byName.get(name) === id) this.#byName.delete(name);
    };
  }

  releaseName(name: string, id: string): void {
    if (this.#byName.get(name) === id) this.#byName.delete(name);
  }
}
