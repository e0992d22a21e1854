import { randomBytes } from 'node:crypto';

declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A full 64-hex container id. A user-supplied name or prefix is a ContainerRef (plain string). */
export type ContainerId = Brand<string, 'ContainerId'>;
/** `sha256:<64 hex>`. */
export type ImageId = Brand<string, 'ImageId'>;

export function newId(): string {
  // Docker avoids all-digit ids because a short prefix would parse as a number in some tools.
  for (;;) {
    const id = randomBytes(32).toString('hex');
    if (!/^\d{12}/.test(id)) return id;
  }
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

export const isFullHexId = (s: string): boolean => /^[0-9a-f]{64}$/.test(s);
