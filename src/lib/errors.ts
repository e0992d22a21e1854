/**
 * Errors carry a kind, chosen where they start; the API maps kinds to HTTP status in one
 * place (src/api/http-errors.ts). The message is what the user sees, so it follows Docker's
 * wording where clients and scripts match on it.
 */
export const ErrorKinds = [
  'NotFound',
  'InvalidParameter',
  'Conflict',
  'Unauthorized',
  'Forbidden',
  'Unavailable',
  'NotModified',
  'NotImplemented',
  'System',
] as const;
export type ErrorKind = (typeof ErrorKinds)[number];

export class BerthError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = `BerthError(${kind})`;
  }
}

export const notFound = (msg: string, cause?: unknown) => new BerthError('NotFound', msg, { cause });
export const invalidParameter = (msg: string, cause?: unknown) =>
  new BerthError('InvalidParameter', msg, { cause });
export const conflict = (msg: string, cause?: unknown) => new BerthError('Conflict', msg, { cause });
export const unauthorized = (msg: string, cause?: unknown) => new BerthError('Unauthorized', msg, { cause });
export const forbidden = (msg: string, cause?: unknown) => new BerthError('Forbidden', msg, { cause });
export const unavailable = (msg: string, cause?: unknown) => new BerthError('Unavailable', msg, { cause });
export const notModified = (msg = '') => new BerthError('NotModified', msg);
export const notImplemented = (msg: string) => new BerthError('NotImplemented', msg);
export const systemError = (msg: string, cause?: unknown) => new BerthError('System', msg, { cause });

export function errorKind(err: unknown): ErrorKind {
  return err instanceof BerthError ? err.kind : 'System';
}

export function isKind(err: unknown, kind: ErrorKind): boolean {
  return err instanceof BerthError && err.kind === kind;
}

/** Node's system errors carry a string code (ENOENT, EEXIST...). */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
