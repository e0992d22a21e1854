import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonForFile, waitFor, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;

daemonForFile((x) => (d = x));

test('--volumes-from shares another container\'s volumes and binds, :ro makes them read-only', () => {
  const host = mkdtempSync('/tmp/bt-vf-');
  try {
    writeFileSync(join(host, 'h.txt'), 'from host\n');
    d.ok(['create', '--name', 'store', '-v', 'shared:/data', '-v', '/anon', '-v', `${host}:/hostdir:ro`, 'busybox', 'sh', '-c', 'echo named > /data/n; echo anon > /anon/a']);
    assert.equal(d.ok(['start', '-a', 'store']), '');
    // All three mounts, at the same places; a bind that was read-only stays so.
    const r = d.docker(['run', '--rm', '--volumes-from', 'store', 'busybox', 'sh', '-c', 'cat /data/n /anon/a /hostdir/h.txt; echo more > /data/m && echo wrote; touch /hostdir/x 2>/dev/null || echo bind-ro']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'named\nanon\nfrom host\nwrote\nbind-ro\n');
    const ro = d.docker(['run', '--rm', '--volumes-from', 'store:ro', 'busybox', 'sh', '-c', 'cat /data/m; touch /data/y 2>/dev/null || echo ro']);
    assert.equal(ro.stdout, 'more\nro\n');
    // The container's own mount wins at a destination, and inspect shows what it got.
    d.ok(['create', '--name', 'user', '--volumes-from', 'store:rw', '-v', 'other:/data', 'busybox', 'true']);
    const mounts = JSON.parse(d.ok(['inspect', '-f', '{{json .Mounts}}', 'user'])) as { Name?: string; Destination: string; RW: boolean }[];
    const byDest = Object.fromEntries(mounts.map((m) => [m.Destination, m]));
    assert.equal(byDest['/data']?.Name, 'other');
    assert.equal(byDest['/hostdir']?.RW, false);
    assert.equal(byDest['/anon']?.RW, true);
    assert.deepEqual(JSON.parse(d.ok(['inspect', '-f', '{{json .HostConfig.VolumesFrom}}', 'user'])), ['store:rw']);
    // rm -v of the borrower keeps the lender's anonymous volume; the lender's own rm -v takes it.
    const anon = mounts.find((m) => m.Destination === '/anon')?.Name as string;
    d.ok(['rm', '-v', 'user']);
    assert.match(d.ok(['volume', 'ls', '-q']), new RegExp(anon));
    d.ok(['rm', '-v', 'store']);
    assert.doesNotMatch(d.ok(['volume', 'ls', '-q']), new RegExp(anon));
    assert.match(readFileSync(join(host, 'h.txt'), 'utf8'), /from host/);

    assert.match(d.fails(['run', '--rm', '--volumes-from', 'nosuch', 'busybox', 'true']), /No such container: nosuch/);
    assert.match(d.fails(['run', '--rm', '--volumes-from', 'store:zz', 'busybox', 'true']), /invalid mode: zz/);
  } finally {
    d.removeAllContainersAndVolumes();
    rmSync(host, { recursive: true, force: true });
  }
});

test('docker ps --size and inspect --size show the container layer and the image under it', () => {
  d.ok(['run', '--name', 'sized', 'busybox', 'sh', '-c', 'head -c 3000000 /dev/zero > /blob']);
  const line = d.ok(['ps', '-a', '--size', '--filter', 'name=sized', '--format', '{{.Size}}']).trim();
  assert.match(line, /^3(\.\d+)?MB \(virtual \d+(\.\d+)?MB\)$/, line);
  const [rw, rootfs] = d.ok(['inspect', '--size', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'sized']).trim().split(' ').map(Number);
  assert.ok((rw ?? 0) >= 3_000_000 && (rw ?? 0) < 3_100_000, `SizeRw ${rw}`);
  assert.ok((rootfs ?? 0) > (rw ?? 0) + 500_000, 'SizeRootFs adds the image');
  // Without --size nothing is walked and nothing is shown.
  assert.equal(d.ok(['inspect', '-f', '{{.SizeRw}}', 'sized']).trim(), '<nil>');
  d.ok(['rm', 'sized']);
});

test('docker stats shows the block I/O a container does', async () => {
  d.ok(['run', '-d', '--name', 'io', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=8 2>/dev/null; sync; touch /done; sleep 1000']);
  await waitFor('writer done', () => d.docker(['exec', 'io', 'test', '-f', '/done']).code === 0, 30_000);
  const blockIo = d.ok(['stats', '--no-stream', '--format', '{{.BlockIO}}', 'io']).trim();
  const written = /\/ ([\d.]+)MB$/.exec(blockIo);
  assert.ok(written && Number(written[1]) >= 8, `8 MiB written shows: ${blockIo}`);
  const raw = (await d.api('GET', '/containers/io/stats?stream=false')).json() as { blkio_stats: { io_service_bytes_recursive: { op: string; value: number }[] } };
  const write = raw.blkio_stats.io_service_bytes_recursive.filter((e) => e.op === 'Write').reduce((n, e) => n + e.value, 0);
  assert.ok(write >= 8 * 1024 * 1024, `Write bytes ${write}`);
  d.ok(['rm', '-f', 'io']);
});
