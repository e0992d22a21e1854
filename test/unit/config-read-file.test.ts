import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseFlags, readConfigFile } from '../../src/config/index.js';

describe('reading daemon.json', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns undefined for a missing file so loadConfig can decide', async () => {
    assert.equal(await readConfigFile(join(dir, 'absent.json')), undefined);
  });

  it('reads UTF-8 with or without a byte order mark, and UTF-16 with one', async () => {
    const json = '{"live-restore": true}';
    const cases: [string, Buffer][] = [
      ['plain.json', Buffer.from(json)],
      ['bom8.json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)])],
      ['le.json', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, 'utf16le')])],
      ['be.json', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(json, 'utf16le').swap16()])],
    ];
    for (const [name, bytes] of cases) {
      const file = join(dir, name);
      await writeFile(file, bytes);
      const text = await readConfigFile(file);
      const { config } = loadConfig({ flags: parseFlags([]), file, fileText: text });
      assert.equal(config.liveRestore, true, name);
    }
  });

  it('reports a directory in place of the file with the file prefix', async () => {
    const file = join(dir, 'adir');
    await mkdir(file);
    await assert.rejects(readConfigFile(file), {
      message: `unable to configure the berth daemon with file ${file}: read ${file}: is a directory`,
    });
  });
});
