import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, syncDir, writeFileAtomic } from '../lib/atomic-file.js';
import { errnoCode, messageOf } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { EndpointInfo } from '../engine/ports.js';
import type { NetworkRecord, SandboxRecord } from './types.js';

/**
 * Networks' records: `<dir>/<name>/network.json` (beside the network's ipam.json), written
 * atomically and only when they change. Read synchronously at start-up.
 */
export class NetworkRecords {
  readonly dir: string;
  readonly #log: Logger;

  constructor(dir: string, log: Logger) {
    this.dir = dir;
    this.#log = log;
  }

  dirOf(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Every record. A folder whose record was never written (a create cut short before its
   * rename: the record comes before the bridge, so nothing was made) or whose removal was cut
   * short (renamed away first) is deleted.
   */
  loadAll(): NetworkRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    const out: NetworkRecord[] = [];
    for (const name of names) {
      const dir = join(this.dir, name);
      if (name.startsWith('.removing-')) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      try {
        out.push(JSON.parse(readFileSync(join(dir, 'network.json'), 'utf8')) as NetworkRecord);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') this.#log.warn({ network: name, err: messageOf(err) }, 'unreadable network record');
        // Allocations without a record (an older berth wrote the record after the bridge): kept.
        else if (!existsSync(join(dir, 'ipam.json'))) rmSync(dir, { recursive: true, force: true });
      }
    }
    return out;
  }

  async write(rec: NetworkRecord): Promise<void> {
    const dir = this.dirOf(rec.config.name);
    const file = join(dir, 'network.json');
    const text = JSON.stringify(rec);
    try {
      if (readFileSync(file, 'utf8') === text) return;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    await ensureDir(dir);
    await writeFileAtomic(file, text);
  }

  /** The record and the network's allocations go together: renamed away first, so a removal cut short never leaves half a folder. */
  async remove(name: string): Promise<void> {
    const doomed = join(this.dir, `.removing-${name}`);
    try {
      await rename(this.dirOf(name), doomed);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    await syncDir(this.dir);
    await rm(doomed, { recursive: true, force: true });
  }
}

/** Endpoint records before user networks: one endpoint per container, `schemaVersion: 1`. */
type EndpointRecordV1 = Omit<EndpointInfo, 'gatewayRoute' | 'dnsNames' | 'dnsServers'> & { schemaVersion: 1 };

/**
 * Numbered migrations of `<data-root>/network/endpoints/<id>/endpoint.json`: version 1 held
 * the container's one endpoint on the default bridge; version 2 is the container's sandbox with
 * an endpoint per network. A version-1 record keeps its veth name (`vb` + 11 hex).
 */
export function migrateSandbox(raw: Record<string, unknown>): SandboxRecord {
  const v = raw['schemaVersion'];
  if (v === 2) return raw as unknown as SandboxRecord;
  if (v === 1) {
    const { schemaVersion: _v, ...old } = raw as unknown as EndpointRecordV1;
    return {
      schemaVersion: 2,
      containerId: old.containerId,
      netnsPath: old.netnsPath,
      endpoints: [{ ...old, gatewayRoute: true, dnsNames: [], dnsServers: [] }],
    };
  }
  throw new Error(`unknown endpoint schema version ${String(v)}`);
}
