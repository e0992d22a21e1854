import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonForFile, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

// Housekeeping commands users run daily: container prune, system prune and df, network
// ls/inspect, export.
let d: TestDaemon;

daemonForFile((x) => (d = x));

const idOf = (name: string) => d.docker(['inspect', '-f', '{{.Id}}', name]).stdout.trim();

test('container prune removes stopped containers only, honours label and until filters, and counts the space', () => {
  assert.equal(d.docker(['run', '--name', 'p1', '--label', 'pt=1', 'busybox', 'sh', '-c', 'head -c 300000 /dev/zero > /big']).code, 0);
  d.docker(['create', '--name', 'p2', '--label', 'pt=1', '--label', 'keep=1', 'busybox', 'true']);
  d.docker(['run', '-d', '--name', 'r1', '--label', 'pt=1', 'busybox', 'sleep', '1000']);
  const p1 = idOf('p1');

  // Nothing was created before 2000: nothing goes.
  const none = d.docker(['container', 'prune', '-f', '--filter', 'until=2000-01-01T00:00:00Z']);
  assert.equal(none.code, 0, none.stderr);
  assert.doesNotMatch(none.stdout, /[0-9a-f]{64}/);

  const r = d.docker(['container', 'prune', '-f', '--filter', 'label=pt', '--filter', 'label!=keep']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.match(/[0-9a-f]{64}/g), [p1]);
  // The 300 kB the container wrote were in its layer: Docker's units, 1000-based.
  const reclaimed = /Total reclaimed space: ([\d.]+)kB/.exec(r.stdout);
  assert.ok(reclaimed && Number(reclaimed[1]) >= 300, r.stdout);
  const left = d.docker(['ps', '-a', '--filter', 'label=pt', '--format', '{{.Names}}']).stdout.trim().split('\n').sort();
  assert.deepEqual(left, ['p2', 'r1']);

  const bad = d.docker(['container', 'prune', '-f', '--filter', 'until=someday']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /someday/);
  const badKey = d.docker(['container', 'prune', '-f', '--filter', 'status=exited']);
  assert.notEqual(badKey.code, 0);
  assert.match(badKey.stderr, /invalid filter 'status'/);
  d.docker(['rm', '-f', 'p2', 'r1']);
});

test('network ls and inspect show the built-in bridge, none and host networks, and the containers on none', () => {
  d.docker(['run', '-d', '--name', 'n1', '--network', 'none', 'busybox', 'sleep', '1000']);
  const ls = d.docker(['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['bridge bridge local', 'host host local', 'none null local']);
  assert.equal(d.docker(['network', 'ls', '-q', '--filter', 'driver=null']).stdout.trim().split('\n').length, 1);
  const inspect = d.docker(['network', 'inspect', 'none', '--format', '{{.Name}} {{range .Containers}}{{.Name}}{{end}}']);
  assert.equal(inspect.stdout.trim(), 'none n1');
  // The ID is stable: inspect by a prefix of what ls printed.
  const id = d.docker(['network', 'ls', '-q', '--filter', 'name=host']).stdout.trim();
  assert.equal(d.docker(['network', 'inspect', id, '--format', '{{.Name}}']).stdout.trim(), 'host');
  const missing = d.docker(['network', 'inspect', 'nope']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /network nope not found/);
  const builtin = d.docker(['network', 'create', '-d', 'null', 'n2']);
  assert.notEqual(builtin.code, 0);
  assert.match(builtin.stderr, /only one instance of "null" network is allowed/);
  d.docker(['rm', '-f', 'n1']);
});

test('system prune removes stopped containers and dangling images, keeps running containers and tagged images', () => {
  d.docker(['run', '-d', '--name', 's1', 'busybox', 'sleep', '1000']);
  d.docker(['create', '--name', 's2', 'busybox', 'true']);
  const s2 = idOf('s2');
  const r = d.docker(['system', 'prune', '-f']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`Deleted Containers:\\n${s2}`));
  assert.match(r.stdout, /Total reclaimed space:/);
  assert.deepEqual(d.docker(['ps', '-a', '--format', '{{.Names}}']).stdout.trim().split('\n'), ['s1']);
  assert.equal(d.docker(['image', 'inspect', 'busybox', '--format', 'ok']).stdout.trim(), 'ok');
  d.docker(['rm', '-f', 's1']);
});

test('system df counts images, containers and volumes with their sizes, as docker prints them', async () => {
  assert.equal(d.docker(['run', '--name', 'df1', '-v', 'dfvol:/data', 'busybox', 'sh', '-c', 'head -c 500000 /dev/zero > /data/f; head -c 200000 /dev/zero > /g']).code, 0);
  d.docker(['run', '-d', '--name', 'df2', 'busybox', 'sleep', '1000']);
  const r = d.docker(['system', 'df', '--format', '{{json .}}']);
  assert.equal(r.code, 0, r.stderr);
  const rows = new Map(r.stdout.trim().split('\n').map((l) => {
    const o = JSON.parse(l) as { Type: string; TotalCount: string; Active: string; Size: string; Reclaimable: string };
    return [o.Type, o] as const;
  }));
  assert.equal(rows.get('Images')?.TotalCount, '1');
  assert.equal(rows.get('Images')?.Active, '1');
  assert.match(rows.get('Images')?.Size ?? '', /MB$/);
  assert.equal(rows.get('Containers')?.TotalCount, '2');
  assert.equal(rows.get('Containers')?.Active, '1');
  // Docker's units are 1000-based: the 200000 bytes df1 wrote into its own layer.
  assert.equal(rows.get('Containers')?.Size, '200kB');
  assert.equal(rows.get('Containers')?.Reclaimable, '200kB (100%)');
  assert.equal(rows.get('Local Volumes')?.Size, '500kB');
  assert.equal(rows.get('Build Cache')?.TotalCount, '0');
  const v = d.docker(['system', 'df', '-v']);
  assert.match(v.stdout, /^dfvol\s+1\s+500kB$/m);
  // Only what was asked for (as Docker 28: the other fields there, null), and an unknown type is refused.
  const only = (await d.api('GET', '/v1.47/system/df?type=volume')).json() as Record<string, unknown>;
  assert.deepEqual({ ...only, Volumes: Array.isArray(only['Volumes']) }, { LayersSize: 0, Images: null, Containers: null, Volumes: true, BuildCache: null });
  const all = (await d.api('GET', '/v1.47/system/df')).json() as Record<string, unknown>;
  assert.deepEqual(Object.keys(all), ['LayersSize', 'Images', 'Containers', 'Volumes', 'BuildCache']);
  assert.deepEqual(all['BuildCache'], []);
  // Before API 1.42 `type` is not looked at: everything comes.
  const old = (await d.api('GET', '/v1.41/system/df?type=volume')).json() as Record<string, unknown>;
  assert.ok(Array.isArray(old['Images']) && Array.isArray(old['Containers']), JSON.stringify(old));
  const bad = await d.api('GET', '/v1.47/system/df?type=nope');
  assert.equal(bad.status, 400);
  assert.match(bad.text, /unknown object type: nope/);
  d.docker(['rm', '-f', '-v', 'df1', 'df2']);
  d.docker(['volume', 'rm', 'dfvol']);
});

test('export writes the container filesystem as a tar, for a stopped container (mounted only meanwhile) and a running one', () => {
  d.docker(['run', '--name', 'x1', 'busybox', 'sh', '-c', 'echo exported > /hello; rm /bin/ls']);
  const out = join(d.dir, 'x1.tar');
  const r = d.docker(['export', '-o', out, 'x1']);
  assert.equal(r.code, 0, r.stderr);
  const names = spawnSync('tar', ['-tf', out], { encoding: 'utf8' }).stdout.split('\n');
  assert.ok(names.includes('bin/busybox'), 'entries are relative, without ./');
  assert.ok(names.includes('hello'));
  assert.ok(!names.includes('bin/ls'), 'a file the container removed is not exported');
  assert.equal(spawnSync('tar', ['-xOf', out, 'hello'], { encoding: 'utf8' }).stdout, 'exported\n');
  // Mounted for the copy only: nothing of x1's stays mounted.
  const id = d.docker(['inspect', '-f', '{{.Id}}', 'x1']).stdout.trim();
  assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(id), 'the stopped container stays mounted after export');

  d.docker(['run', '-d', '--name', 'x2', 'busybox', 'sleep', '1000']);
  const running = spawnSync('sh', ['-c', `docker -H ${d.host} export x2 | tar -t | grep -c .`], { encoding: 'utf8' });
  assert.ok(Number(running.stdout.trim()) > 100, running.stderr);
  assert.equal(d.docker(['inspect', '-f', '{{.State.Running}}', 'x2']).stdout.trim(), 'true');
  const missing = d.docker(['export', '-o', join(d.dir, 'none.tar'), 'nope']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /No such container: nope/);
  d.docker(['rm', '-f', 'x1', 'x2']);
  rmSync(out, { force: true });
});

for (const driver of ['overlay2', 'vfs'] as const) {
  test(`diff lists what a container added, changed and deleted, as dockerd does (${driver})`, async () => {
    const dd = driver === 'overlay2' ? d : await startDaemon({ storageDriver: 'vfs' });
    try {
      const r = dd.docker(['run', '--name', 'df', 'busybox', 'sh', '-c', 'echo hi > /hello; rm /bin/ls; mkdir -p /tmp/new/sub; echo x >> /etc/passwd']);
      assert.equal(r.code, 0, r.stderr);
      const diff = dd.docker(['diff', 'df']);
      assert.equal(diff.code, 0, diff.stderr);
      const lines = diff.stdout.trim().split('\n');
      for (const l of ['A /hello', 'D /bin/ls', 'C /etc/passwd', 'A /tmp/new', 'A /tmp/new/sub', 'C /tmp']) assert.ok(lines.includes(l), `${l} missing from:\n${diff.stdout}`);
      // berth's own mount points are not the container's changes.
      assert.ok(!lines.some((l) => /\/etc\/(hosts|hostname|resolv\.conf)$/.test(l)), diff.stdout);
      const paths = lines.map((l) => l.slice(2));
      assert.deepEqual([...paths].sort(), paths, 'sorted by path');
      dd.docker(['run', '-d', '--name', 'quiet', 'busybox', 'sleep', '1000']);
      assert.equal(dd.docker(['diff', 'quiet']).stdout, '', 'a container that changed nothing has no diff');
      assert.match(dd.docker(['diff', 'nope']).stderr, /No such container: nope/);
      dd.docker(['rm', '-f', 'df', 'quiet']);
    } finally {
      if (dd !== d) assert.deepEqual((await dd.cleanup()).leftovers, []);
    }
  });
}
