import { BerthError, type ErrorKind } from '../../lib/errors.js';

/**
 * An error answer from a registry, in the distribution spec's body (`{"errors": [{code,
 * message, detail}]}`), worded as dockerd words it (errcode's `<code in lower case>:
 * <message>`), with the code kept so callers can say "manifest for X not found".
 */
export class RegistryError extends BerthError {
  readonly code: string | undefined;
  readonly status: number;
  readonly detail: string;

  constructor(kind: ErrorKind, message: string, status: number, code: string | undefined, detail: string) {
    super(kind, message);
    this.code = code;
    this.status = status;
    this.detail = detail;
  }
}

/**
 * A registry that wants Basic credentials, asked without any: the request is not sent again,
 * and the failure reads as dockerd's (`Head "https://…/manifests/1": no basic auth
 * credentials`, a 500 there too: the CLI then offers no login prompt).
 */
export class NoBasicCredentials extends BerthError {
  constructor(method: string, url: URL) {
    super('System', `${method.charAt(0)}${method.slice(1).toLowerCase()} "${url.href}": no basic auth credentials`);
  }
}

function kindOf(status: number): ErrorKind {
  if (status === 401) return 'Unauthorized';
  if (status === 403) return 'Forbidden';
  if (status === 404) return 'NotFound';
  if (status === 400 || status === 405 || status === 413 || status === 415) return 'InvalidParameter';
  return 'Unavailable';
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Unexpected Status';
}

export function registryError(status: number, body: Buffer, what: string): RegistryError {
  let first: { code?: unknown; message?: unknown; detail?: unknown } | undefined;
  try {
    const json = JSON.parse(body.toString('utf8')) as { errors?: unknown; details?: unknown };
    if (Array.isArray(json.errors) && json.errors.length > 0) first = json.errors[0] as typeof first;
    // Docker Hub's token server answers {"details": "..."}.
    else if (typeof json.details === 'string') first = { code: status === 401 ? 'UNAUTHORIZED' : undefined, message: json.details };
  } catch {
    first = undefined;
  }
  const code = typeof first?.code === 'string' ? first.code : undefined;
  const message = typeof first?.message === 'string' ? first.message : '';
  const detail = first?.detail === undefined ? '' : JSON.stringify(first.detail);
  let text: string;
  if (code !== undefined) text = `${code.toLowerCase().replace(/_/g, ' ')}: ${message || statusText(status).toLowerCase()}`;
  else if (status === 401) text = 'unauthorized: authentication required';
  else text = `${what}: unexpected status from the registry: ${status} ${statusText(status)}`;
  return new RegistryError(kindOf(status), text, status, code, detail);
}
