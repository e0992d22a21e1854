import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { errnoCode, messageOf } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

const MAX_PER_BLOB = 8;

/**
 * Which repositories are known to hold a blob (pulled from or pushed to), so that a push to
 * another repository of the same registry can mount it there instead of uploading it. Only
 * a hint: a lost or stale entry costs an upload, never correctness, so it is written after
 * each pull or push rather than with every layer.
 */
export class BlobSources {
  readonly #file: string;
  readonly #log: Logger;
  readonly #map = new Map<string, string[]>();
  #dirty = false;

  constructor(file: string, log: Logger) {
    this.#file = file;
    this.#log = log;
  }

  async init(): Promise<void> {
    try {
      const json = JSON.parse(await readFile(this.#file, 'utf8')) as Record<string, string[]>;
      for (const [k, v] of Object.entries(json)) if (Array.isArray(v)) this.#map.set(k, v.filter((x) => typeof x === 'string'));
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') this.#log.warn({ err: messageOf(err) }, 'unreadable blob sources, starting afresh');
    }
  }

  /** `repo` is a full repository name: `localhost:5000/team/app`. */
  add(digest: string, repo: string): void {
    const list = this.#map.get(digest) ?? [];
    if (list[0] === repo) return;
    this.#map.set(digest, [repo, ...list.filter((r) => r !== repo)].slice(0, MAX_PER_BLOB));
    this.#dirty = true;
  }

  /** Repositories on `domain` other than `exceptRepo` that hold the blob, most recent first. */
  on(digest: string, domain: string, exceptRepo: string): string[] {
    return (this.#map.get(digest) ?? []).filter((r) => r !== exceptRepo && r.startsWith(`${domain}/`));
  }

  async save(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    await writeFileAtomic(this.#file, JSON.stringify(Object.fromEntries(this.#map))).catch((err: unknown) =>
      this.#log.warn({ err: messageOf(err) }, 'cannot save blob sources'),
    );
  }
}
