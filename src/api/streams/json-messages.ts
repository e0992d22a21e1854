import type { ServerResponse } from 'node:http';
import type { Logger } from '../../lib/logger.js';
import { writeError, writeStreamError } from '../http-errors.js';
import type { ProgressEvent } from '../backend.js';
import { progressJson } from '../wire/progress-json.js';

/**
 * A stream of JSON messages (pull, push, load), answered the way dockerd answers it: the 200
 * and its headers go out with the first message, so a failure before any output is an HTTP
 * error status (the CLI prints "Error response from daemon"), one after it the stream's last
 * message (`errorDetail`).
 */
export class JsonMessages {
  readonly #res: ServerResponse;
  readonly #log: Logger;
  #started = false;

  constructor(res: ServerResponse, log: Logger) {
    this.#res = res;
    this.#log = log;
  }

  get started(): boolean {
    return this.#started;
  }

  readonly progress = (e: ProgressEvent): void => this.write(progressJson(e));

  write(text: string): void {
    if (this.#res.destroyed || this.#res.writableEnded) return;
    if (!this.#started) {
      this.#res.writeHead(200, { 'Content-Type': 'application/json' });
      this.#started = true;
    }
    this.#res.write(text);
  }

  fail(err: unknown): void {
    if (this.#started) writeStreamError(this.#res, err, this.#log);
    else writeError(this.#res, err);
  }

  end(): void {
    if (!this.#started) {
      this.#res.writeHead(200, { 'Content-Type': 'application/json' });
      this.#started = true;
    }
    this.#res.end();
  }
}
