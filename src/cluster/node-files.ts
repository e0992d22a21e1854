import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { errnoCode, systemError } from '../lib/errors.js';
import type { ClusterCa } from './ca.js';
import type { Tls } from './node-api.js';

/**
 * A node's identity on disk, in `<data-root>/swarm` (0700): the CA certificate, the node's key
 * and certificate, and on managers the CA key, the etcd peer certificate and the secrets key.
 * Each file is written atomically; keys 0600.
 */
export class NodeFiles {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  path(name: 'ca.crt' | 'ca.key' | 'node.key' | 'node.crt' | 'peer.crt' | 'secrets.key'): string {
    return join(this.dir, name);
  }

  async write(f: { caPem?: string; caKeyPem?: string; keyPem?: string; certPem?: string; peerCertPem?: string; secretsKey?: string }): Promise<void> {
    if (f.caPem) await writeFileAtomic(this.path('ca.crt'), f.caPem, 0o644);
    if (f.caKeyPem) await writeFileAtomic(this.path('ca.key'), f.caKeyPem, 0o600);
    if (f.keyPem) await writeFileAtomic(this.path('node.key'), f.keyPem, 0o600);
    if (f.certPem) await writeFileAtomic(this.path('node.crt'), f.certPem, 0o644);
    if (f.peerCertPem) await writeFileAtomic(this.path('peer.crt'), f.peerCertPem, 0o644);
    if (f.secretsKey) await writeFileAtomic(this.path('secrets.key'), f.secretsKey, 0o600);
  }

  async tls(): Promise<Tls> {
    const [ca, cert, key] = await Promise.all([this.#read('ca.crt'), this.#read('node.crt'), this.#read('node.key')]);
    return { ca, cert, key };
  }

  async ca(): Promise<ClusterCa> {
    const [certPem, keyPem] = await Promise.all([this.#read('ca.crt'), this.#read('ca.key')]);
    return { certPem, keyPem };
  }

  secretsKey(): Promise<string> {
    return this.#read('secrets.key');
  }

  async #read(name: Parameters<NodeFiles['path']>[0]): Promise<string> {
    try {
      return await readFile(this.path(name), 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw systemError(`the swarm's ${name} is missing from ${this.dir}`);
      throw err;
    }
  }
}
