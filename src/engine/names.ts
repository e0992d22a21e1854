import { randomInt } from 'node:crypto';
import { invalidParameter } from '../lib/errors.js';

const VALID_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Docker's rule and message for container names; returns the name without its leading '/'. */
export function validateName(name: string): string {
  if (!VALID_NAME.test(name)) {
    throw invalidParameter(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.replace(/^\//, '');
}

// berth's own word lists for generated names (adjective_noun, like Docker's).
const ADJECTIVES = [
  'amber', 'brave', 'calm', 'daring', 'eager', 'fair', 'gentle', 'hardy', 'idle', 'jolly', 'keen',
  'lively', 'mellow', 'nimble', 'proud', 'quiet', 'rapid', 'sturdy', 'tidal', 'upbeat', 'vivid',
  'wise', 'young', 'zesty', 'bold', 'clever', 'dreamy', 'festive', 'gallant', 'happy', 'lucid',
  'merry', 'noble', 'patient', 'serene', 'steady', 'sunny', 'tender', 'witty', 'jovial',
];
const NOUNS = [
  'anchor', 'buoy', 'cargo', 'dock', 'ferry', 'galley', 'harbor', 'jetty', 'keel', 'lantern',
  'mooring', 'pier', 'quay', 'rudder', 'schooner', 'tug', 'wharf', 'beacon', 'compass', 'dinghy',
  'estuary', 'frigate', 'gangway', 'hull', 'inlet', 'ketch', 'lagoon', 'mast', 'narrows', 'oar',
  'pilot', 'reef', 'sextant', 'tide', 'voyage', 'wake', 'yawl', 'capstan', 'bollard', 'cove',
];

export function generateName(taken: (n: string) => boolean): string {
  for (let i = 0; ; i++) {
    const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}`;
    const name = i < 10 ? base : `${base}${randomInt(10)}`;
    if (!taken(name)) return name;
  }
}
