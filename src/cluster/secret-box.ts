import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { errnoCode, systemError } from '../lib/errors.js';

/**
 * Secrets are sealed at rest in the store with a cluster key that lives on the managers' disks
 * (mode 0600) and never in the store: a copy of etcd's data alone reveals no secret.
 * AES-256-GCM, a fresh nonce per seal; the sealed form is `v1.<nonce>.<tag>.<ciphertext>`.
 */
export class SecretBox {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  static async create(file: string): Promise<SecretBox> {
    const key = randomBytes(32);
    await writeFileAtomic(file, key.toString('base64'), 0o600);
    return new SecretBox(key);
  }

  static async open(file: string): Promise<SecretBox> {
    try {
      const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
      if (key.length !== 32) throw systemError(`the swarm's secret key ${file} is damaged`);
      return new SecretBox(key);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw systemError(`the swarm's secret key ${file} is missing: secrets cannot be read`);
      throw err;
    }
  }

  seal(data: Buffer, aad: string): string {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.#key, nonce);
    c.setAAD(Buffer.from(aad));
    const body = Buffer.concat([c.update(data), c.final()]);
    return ['v1', nonce.toString('base64'), c.getAuthTag().toString('base64'), body.toString('base64')].join('.');
  }

  /** `aad` binds the sealed data to its secret's id: a sealed value moved to another secret fails. */
  open(sealed: string, aad: string): Buffer {
    const [v, nonce, tag, body] = sealed.split('.');
    if (v !== 'v1' || !nonce || !tag || body === undefined) throw systemError('a sealed secret has an unknown format');
    const d = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(nonce, 'base64'));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(body, 'base64')), d.final()]);
  }
}
