import { posix } from 'node:path';
import { BerthError, errnoCode, invalidParameter, systemError } from '../lib/errors.js';
import { fsErrorText } from '../lib/fs-error-text.js';

/** Failures the Dockerfile or its context provoke; others (ENOSPC, EIO) are the daemon's. */
const USER_CAUSED = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST', 'ELOOP', 'ENAMETOOLONG', 'ENOTEMPTY', 'EINVAL']);

/**
 * The host directories a COPY, ADD or WORKDIR step works in (the build context, the image's
 * root filesystem mounted for the step, a `--from` image's), so that a failed file system
 * call is reported with its path as the Dockerfile's author knows it: `/etc/passwd` in an
 * image, `app/a.txt` in the context. berthd's data-root and scratch paths never show.
 */
export class StepPaths {
  readonly #roots: { host: string; inImage: boolean }[] = [];

  /** A root filesystem (paths shown absolute inside it) or the context (shown relative). */
  add(host: string, inImage: boolean): void {
    this.#roots.unshift({ host: host.replace(/\/+$/, ''), inImage });
  }

  show = (p: string): string => {
    for (const { host, inImage } of this.#roots) {
      if (p === host) return inImage ? '/' : '.';
      if (p.startsWith(`${host}/`)) return inImage ? p.slice(host.length) : p.slice(host.length + 1);
    }
    // A download in the build's scratch space: its name is all the user knows of it.
    return posix.basename(p);
  };

  /** Run `fn`; a failed system call in it becomes `prefix` + Go's `op path: reason`, paths shown as above. */
  async run<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof BerthError) throw err;
      const text = fsErrorText(err, this.show);
      if (text === undefined) throw err;
      throw (USER_CAUSED.has(errnoCode(err) ?? '') ? invalidParameter : systemError)(`${prefix}${text}`, err);
    }
  }
}
