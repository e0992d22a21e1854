import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdMember } from '../../src/cluster/etcd-member.js';
import { EtcdStore, ETCD_CLIENT } from '../../src/cluster/etcd-store.js';
import { NO_LEADER } from '../../src/cluster/messages.js';
import { silentLogger } from '../../src/lib/logger.js';
import { isKind } from '../../src/lib/errors.js';
import { testTmpDir } from '../helpers/paths.js';

/*
 * The swarm's store against a real etcd member (Debian's etcd-server), data on tmpfs: the
 * member is detached and adopted by PID and start time, transactions are compare-and-swap,
 * and a member that cannot reach quorum makes calls fail within the client's deadline with
 * Docker's sentence instead of hanging for tens of seconds.
 */
function fixture() {
  const dir = testTmpDir('bt-etcd-');
  const shm = join('/dev/shm', `berth-etcd-${dir.split('/').pop() ?? 'x'}`);
  const member = () => new EtcdMember({ stateDir: join(dir, 'state'), dataDir: shm, socketDir: join(dir, 'sock'), log: silentLogger() });
  const cleanup = async (m: EtcdMember) => {
    await m.destroy().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    rmSync(shm, { recursive: true, force: true });
  };
  return { dir, member, cleanup };
}

function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

async function ready(store: EtcdStore): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await store.get('/berth/swarm/cluster');
      return;
    } catch (err) {
      if (i > 300) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('the etcd member runs detached in a session of its own and a second manager object adopts it by PID and start time instead of starting another', async () => {
  const f = fixture();
  const m = f.member();
  try {
    const first = await m.ensure('node1', 'cluster1');
    assert.equal(first.adopted, false);
    assert.equal(sessionOf(first.process.pid), first.process.pid, 'its own session: a signal to berthd\'s group never reaches it');
    const fds = readFileSync(`/proc/${first.process.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(fds.includes('--pre-vote=true'));
    const again = await f.member().ensure('node1', 'cluster1');
    assert.equal(again.adopted, true);
    assert.deepEqual(again.process, first.process);
    // A record whose PID now names another process (start time differs) is not adopted.
    const rec = JSON.parse(readFileSync(m.recordFile, 'utf8')) as { process: { pid: number; startTime: string } };
    await m.stop();
    writeFileSync(m.recordFile, JSON.stringify({ ...rec, process: { pid: process.pid, startTime: '1' } }));
    const fresh = await f.member().ensure('node1', 'cluster1');
    assert.equal(fresh.adopted, false);
    assert.notEqual(fresh.process.pid, process.pid);
  } finally {
    await f.cleanup(m);
  }
});

test('store transactions are compare-and-swap on revisions; watches see each write; a paused member fails calls (a lease grant among them, not reported lost) within the deadline with the no-leader sentence, then recovers', async () => {
  const f = fixture();
  const m = f.member();
  const { process: proc } = await m.ensure('node1', 'cluster1');
  const store = new EtcdStore(m.endpoint, silentLogger());
  try {
    await ready(store);
    const seen: string[] = [];
    const unwatch = await store.watch('/t/', (c) => seen.push(`${c.type} ${c.key}`));
    const created = await store.txn([{ key: '/t/a', absent: true }], [{ put: '/t/a', value: { n: 1 } }]);
    assert.ok(created.ok);
    assert.equal((await store.txn([{ key: '/t/a', absent: true }], [{ put: '/t/a', value: { n: 2 } }])).ok, false, 'create-if-absent refuses an existing key');
    const a = await store.get<{ n: number }>('/t/a');
    assert.equal(a?.value.n, 1);
    assert.equal(a?.modRevision, created.revision);
    assert.ok((await store.txn([{ key: '/t/a', modRevision: a?.modRevision ?? 0 }], [{ put: '/t/a', value: { n: 3 } }])).ok);
    assert.equal((await store.txn([{ key: '/t/a', modRevision: a?.modRevision ?? 0 }], [{ put: '/t/a', value: { n: 4 } }])).ok, false, 'a stale revision is refused');
    assert.equal((await store.get<{ n: number }>('/t/a'))?.value.n, 3);
    await store.txn([], [{ put: '/t/b', value: {} }, { del: '/t/a' }]);
    assert.deepEqual((await store.list('/t/')).map((e) => e.key), ['/t/b']);
    for (let i = 0; i < 100 && seen.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen, ['put /t/a', 'put /t/a', 'put /t/b', 'delete /t/a']);
    await unwatch();

    // No answer from the member (as when quorum is lost): a bounded, classified failure.
    process.kill(proc.pid, 'SIGSTOP');
    const t0 = Date.now();
    const err = await store.get('/t/b').then(() => undefined, (e: unknown) => e);
    const took = Date.now() - t0;
    // A lease not granted is refused, and is not also reported lost: the leader's campaign
    // started over on each loss, so each failed grant became one more loop spinning.
    let lost = 0;
    const leaseErr = await store.lease(10, () => lost++).then(() => undefined, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(proc.pid, 'SIGCONT');
    assert.ok(isKind(leaseErr, 'Unavailable'), String(leaseErr));
    assert.equal(lost, 0, 'a lease never granted is not reported lost');
    assert.ok(isKind(err, 'Unavailable'), String(err));
    assert.equal((err as Error).message, NO_LEADER);
    assert.ok(took < ETCD_CLIENT.callDeadlineMs + 2000, `failed after ${took} ms`);
    let back = false;
    for (let i = 0; i < 100 && !back; i++) {
      back = await store.get('/t/b').then(() => true, () => false);
      if (!back) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(back, 'calls work again once the member answers');
  } finally {
    try {
      process.kill(proc.pid, 'SIGCONT');
    } catch {
      // gone
    }
    await store.close();
    await f.cleanup(m);
  }
  assert.ok(!existsSync(`/proc/${proc.pid}/stat`) || readFileSync(`/proc/${proc.pid}/stat`, 'utf8').includes(') Z '), 'destroy ends the member');
});
