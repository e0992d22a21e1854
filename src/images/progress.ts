import { Transform } from 'node:stream';

/**
 * What pull, push and load report while they work, in dockerd's terms: a line of its own
 * (`status` alone: "Digest: …"), a per-layer status (`id` + `status`, "Pull complete"), or a
 * per-layer byte count (`current`/`total`, drawn by the CLI as a bar). The API spells them as
 * Docker's JSON messages.
 */
export type ProgressEvent =
  | { kind: 'message'; id?: string; status: string }
  | { kind: 'update'; id: string; status: string }
  | { kind: 'bytes'; id: string; status: string; current: number; total: number }
  | { kind: 'aux'; aux: Record<string, unknown> };

export type Progress = (e: ProgressEvent) => void;

export const noProgress: Progress = () => undefined;

/** The short ids dockerd shows: the first 12 hex digits of a digest. */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

const EVERY_MS = 100;

/**
 * A pass-through that reports the bytes flowing by, as dockerd's progress reader does: at
 * most ten times a second, after each 1% (at most 512 KiB), and once at the end.
 */
export function byteProgress(progress: Progress, id: string, status: string, total: number, start = 0): Transform {
  let current = start;
  let lastBytes = start;
  let lastTime = 0;
  const step = Math.min(512 * 1024, Math.max(1, Math.floor(total / 100)));
  const report = (force: boolean) => {
    const now = Date.now();
    if (!force && (current - lastBytes < step || now - lastTime < EVERY_MS)) return;
    lastBytes = current;
    lastTime = now;
    progress({ kind: 'bytes', id, status, current, total });
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      current += chunk.length;
      report(current === total);
      cb(null, chunk);
    },
  });
}
