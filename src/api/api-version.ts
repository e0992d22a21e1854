import { invalidParameter } from '../lib/errors.js';

/** Highest API version berth speaks (Docker 27.x) and the lowest it still accepts. */
export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';

export function versionNumber(v: string): number {
  const [maj = '0', min = '0'] = v.split('.');
  return Number(maj) * 1000 + Number(min);
}

/** Docker's rejections for versions outside the supported range. */
export function checkVersion(v: string): number {
  const n = versionNumber(v);
  if (n > versionNumber(API_VERSION)) {
    throw invalidParameter(`client version ${v} is too new. Maximum supported API version is ${API_VERSION}`);
  }
  if (n < versionNumber(MIN_API_VERSION)) {
    throw invalidParameter(
      `client version ${v} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  }
  return n;
}
