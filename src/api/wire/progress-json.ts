import type { ProgressEvent } from '../backend.js';

/**
 * Docker's JSON progress messages (moby pkg/streamformatter and jsonmessage), byte for byte:
 * the keys in Go's field order, `progressDetail` on per-layer updates (empty for a plain
 * status), and `progress`, the bar dockerd renders for clients that only print it.
 */
export function progressJson(e: ProgressEvent): string {
  switch (e.kind) {
    case 'message':
      return line({ status: e.status, ...(e.id ? { id: e.id } : {}) });
    case 'update':
      return line({ status: e.status, progressDetail: {}, id: e.id });
    case 'bytes': {
      const detail = { ...(e.current > 0 ? { current: e.current } : {}), ...(e.total > 0 ? { total: e.total } : {}) };
      const bar = progressBar(e.current, e.total);
      return line({ status: e.status, progressDetail: detail, ...(bar ? { progress: bar } : {}), id: e.id });
    }
    case 'aux':
      return line({ progressDetail: {}, aux: e.aux });
  }
}

/** `{"stream": "..."}`, the lines `docker load` prints. */
export function streamJson(text: string): string {
  return line({ stream: text });
}

function line(o: Record<string, unknown>): string {
  return `${JSON.stringify(o)}\r\n`;
}

/**
 * jsonmessage.JSONProgress.String() at the width dockerd renders it (no terminal: 200
 * columns): `[=====>      ]  1.049MB/2.097MB`.
 */
export function progressBar(current: number, total: number, width = 200): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  const percentage = Math.min(50, Math.trunc(Math.trunc((current / total) * 100) / 2));
  const bar = width > 110 ? `[${'='.repeat(percentage)}>${' '.repeat(Math.max(0, 50 - percentage))}] ` : '';
  const numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return bar + numbers;
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** go-units HumanSize: decimal units, four significant digits (`%.4g`). */
export function humanSize(size: number): string {
  let v = size;
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4)).toString()}${UNITS[i] as string}`;
}
