/**
 * The configuration module's only I/O. A missing file is reported as `undefined`, not an
 * error: whether that is fine (the default path) or not (--config-file) is loadConfig's call.
 */
import { readFile } from 'node:fs/promises';
import { errnoCode } from '../lib/errors.js';
import { ConfigError, configMessages as m } from './messages.js';

export async function readConfigFile(file: string): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return undefined;
    const reason = code ? (GO_ERRNO_TEXT[code] ?? code) : String(err);
    throw new ConfigError(m.withFile(file, `${code === 'EISDIR' ? 'read' : 'open'} ${file}: ${reason}`), { cause: err });
  }
  return decodeText(bytes);
}

const GO_ERRNO_TEXT: Record<string, string> = {
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
};

/** dockerd accepts daemon.json in UTF-8 or, with a byte order mark, UTF-16. */
export function decodeText(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    const swapped = Buffer.from(bytes.subarray(2));
    swapped.swap16();
    return swapped.toString('utf16le');
  }
  return bytes.toString('utf8').replace(/^\uFEFF/, '');
}
