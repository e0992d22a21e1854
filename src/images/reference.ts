import { invalidParameter } from '../lib/errors.js';

/**
 * Image references as the docker CLI and dockerd read them: the grammar of
 * github.com/distribution/reference and its ParseNormalizedNamed, step for step, because
 * clients match on the error texts and on which strings are accepted at all.
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] path
 *
 * `domain` is '' only for the odd names the grammar accepts without one (`foo_bar.com/x`:
 * not a valid host, but a valid path).
 */
export type ImageRef = { domain: string; path: string; tag?: string; digest?: string };

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DOMAIN = 'index.docker.io';
const LOCALHOST = 'localhost';
const OFFICIAL_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
const MAX_PATH_LENGTH = 255;

// The patterns of distribution/reference regexp.go, composed the same way.
const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}';
const NAME = `(?:${DOMAIN_AND_PORT}/)?${REMOTE_NAME}`;

const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const ANCHORED_NAME_RE = new RegExp(`^(?:(${DOMAIN_AND_PORT})/)?(${REMOTE_NAME})$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

/** go-digest's registered algorithms, by the length of their hex encoding. */
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
const GO_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

const INVALID_FORMAT = 'invalid reference format';

/**
 * Parse a reference as typed by a user, normalised: `busybox` → docker.io/library/busybox.
 * Throws InvalidParameter with dockerd's message.
 */
export function parseReference(s: string): ImageRef {
  if (IDENTIFIER_RE.test(s)) {
    throw invalidParameter(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const { domain, remainder } = splitDockerDomain(s);
  const colon = remainder.indexOf(':');
  const remote = colon >= 0 ? remainder.slice(0, colon) : remainder;
  if (remote.toLowerCase() !== remote) {
    throw invalidParameter(`${INVALID_FORMAT}: repository name (${remote}) must be lowercase`);
  }
  return parseCanonical(`${domain}/${remainder}`);
}

/**
 * Which part is the registry: the first component when it looks like a host (has `.` or
 * `:`, is localhost, or has uppercase letters, which a path may not have).
 */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf('/');
  // A single component is always a Docker Hub name, even `localhost` or `example.com`.
  if (slash < 0) return { domain: DEFAULT_DOMAIN, remainder: OFFICIAL_PREFIX + name };
  const first = name.slice(0, slash);
  let domain = DEFAULT_DOMAIN;
  let remainder = name;
  if (first === LEGACY_DOMAIN) {
    remainder = name.slice(slash + 1);
  } else if (first === LOCALHOST || /[.:]/.test(first) || first.toLowerCase() !== first) {
    domain = first;
    remainder = name.slice(slash + 1);
  }
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_PREFIX + remainder;
  return { domain, remainder };
}

function parseCanonical(s: string): ImageRef {
  const m = REFERENCE_RE.exec(s);
  if (!m) {
    const lower = s.toLowerCase();
    if (lower !== s && REFERENCE_RE.test(lower)) {
      throw invalidParameter(`${INVALID_FORMAT}: repository name must be lowercase`);
    }
    throw invalidParameter(INVALID_FORMAT);
  }
  const [, name = '', tag, digest] = m;
  const n = ANCHORED_NAME_RE.exec(name);
  const domain = n?.[1] ?? '';
  const path = n?.[2] ?? name;
  if (path.length > MAX_PATH_LENGTH) {
    throw invalidParameter(
      `${INVALID_FORMAT}: repository name must not be more than ${MAX_PATH_LENGTH} characters`,
    );
  }
  if (digest !== undefined) validateDigest(digest);
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The reference grammar admits any algorithm; go-digest then insists on a known one. */
function validateDigest(digest: string): void {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) {
    throw invalidParameter(
      GO_DIGEST_RE.test(digest) ? 'unsupported digest algorithm' : 'invalid checksum digest format',
    );
  }
  if (encoded.length !== length) throw invalidParameter('invalid checksum digest length');
  if (!/^[a-f0-9]+$/.test(encoded)) throw invalidParameter('invalid checksum digest format');
}

/** `latest` when the reference names neither a tag nor a digest. */
export function withDefaultTag(ref: ImageRef): ImageRef {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

function suffix(ref: ImageRef): string {
  return `${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** `docker.io/library/busybox`. */
export function fullName(ref: ImageRef): string {
  return ref.domain === '' ? ref.path : `${ref.domain}/${ref.path}`;
}

/** `docker.io/library/busybox:latest`: the form refs are stored under. */
export function fullString(ref: ImageRef): string {
  return fullName(ref) + suffix(ref);
}

/** The short form docker prints: `busybox`, `me/app`, `localhost:5000/x/y`. */
export function familiarName(ref: ImageRef): string {
  if (ref.domain !== DEFAULT_DOMAIN) return fullName(ref);
  // Only a direct child of library/ loses the prefix, as in distribution's familiarizeName.
  if (ref.path.startsWith(OFFICIAL_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** `busybox:latest`, `localhost:5000/x/y:1`, `repo@sha256:…`. */
export function familiarString(ref: ImageRef): string {
  return familiarName(ref) + suffix(ref);
}

/** A whole image ID: 64 lowercase hex digits, with or without `sha256:`. */
export function isFullImageId(s: string): boolean {
  return /^(?:sha256:)?[0-9a-f]{64}$/.test(s);
}

/** Something that may abbreviate an image ID: 1 to 64 lowercase hex digits, optional `sha256:`. */
export function looksLikeIdPrefix(s: string): boolean {
  return /^(?:sha256:)?[0-9a-f]{1,64}$/.test(s);
}
