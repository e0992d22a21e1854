import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { daemonForFile } from '../helpers/daemon.js';

let docker: Docker;

daemonForFile((x) => {
  // No version: dockerode then calls the unversioned paths (`/volumes/create`), as some clients do.
  docker = new Docker({ socketPath: x.sock });
});

test('dockerode: create a volume, use it from a container, see it in inspect, remove both', async () => {
  await docker.createVolume({ Name: 'dode', Labels: { from: 'dockerode' } });
  const info = await docker.getVolume('dode').inspect();
  assert.equal(info.Name, 'dode');
  assert.equal(info.Driver, 'local');
  assert.deepEqual(info.Labels, { from: 'dockerode' });

  const c = await docker.createContainer({
    Image: 'busybox',
    Cmd: ['sh', '-c', 'echo via-dockerode > /v/f'],
    HostConfig: { Binds: ['dode:/v'], Mounts: [{ Type: 'tmpfs', Source: '', Target: '/t' }] },
  });
  try {
    await c.start();
    const exit = (await c.wait()) as { StatusCode: number };
    assert.equal(exit.StatusCode, 0);
    const mounts = (await c.inspect()).Mounts.sort((a, b) => a.Destination.localeCompare(b.Destination));
    assert.deepEqual(
      mounts.map((m) => [m.Type, m.Name ?? '', m.Destination, m.Mode, m.RW]),
      [['tmpfs', '', '/t', '', true], ['volume', 'dode', '/v', 'z', true]],
    );
    await assert.rejects(docker.getVolume('dode').remove(), (err: { statusCode?: number; message: string }) => {
      assert.equal(err.statusCode, 409);
      assert.match(err.message, new RegExp(`remove dode: volume is in use - \\[${c.id}\\]`));
      return true;
    });
    const listed = await docker.listVolumes({ filters: JSON.stringify({ dangling: ['false'] }) });
    assert.deepEqual(listed.Volumes.map((v) => v.Name), ['dode']);
  } finally {
    await c.remove({ force: true, v: true });
  }
  const reader = await docker.createContainer({ Image: 'busybox', Cmd: ['cat', '/v/f'], HostConfig: { Binds: ['dode:/v:ro'], AutoRemove: true } });
  const stream = await reader.attach({ stream: true, stdout: true, stderr: true });
  let out = '';
  stream.on('data', (chunk: Buffer) => (out += chunk.subarray(8).toString()));
  const done = reader.wait({ condition: 'removed' });
  await reader.start();
  await done;
  assert.equal(out, 'via-dockerode\n');
  await docker.getVolume('dode').remove();
  const pruned = await docker.pruneVolumes();
  assert.deepEqual(pruned, { VolumesDeleted: [], SpaceReclaimed: 0 });
  assert.deepEqual((await docker.listVolumes()).Volumes, []);
});
