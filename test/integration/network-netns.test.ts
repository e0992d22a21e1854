import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { testTmpDir } from '../helpers/paths.js';

// A daemon in a network namespace of its own, whose FORWARD policy is DROP with a DROP rule
// below (what dockerd leaves on a host): berth's rules must make bridged, hairpin and published
// traffic work without changing that policy. Forwarding is turned on in that namespace only,
// so the host's ip_forward is never touched by this test.

const scenario = fileURLToPath(new URL('../helpers/netns-scenario.js', import.meta.url));

test('in its own namespace with FORWARD policy DROP: containers reach each other, published ports and hairpin work, icc=false isolates', () => {
  const dir = testTmpDir('bt-netns-');
  const hostForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
  try {
    const r = spawnSync('unshare', ['--net', '--', process.execPath, scenario, dir], { encoding: 'utf8', timeout: 180_000 });
    const line = r.stdout.trim().split('\n').pop() ?? '{}';
    const out = JSON.parse(line) as Record<string, unknown>;
    assert.equal(out['error'], undefined, `${String(out['error'])}\n${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    // A new namespace starts from the host's value (devconf_inherit_init_net 0): whatever it was.
    assert.equal(out['ipForwardBefore'], hostForward.trim());
    assert.equal(out['ipForwardAfter'], '1', 'ip-forward turned on in the daemon namespace');
    assert.equal(out['hostLoopback'], 'a\n');
    assert.equal(out['containerToContainer'], 'a\n', 'bridged traffic passes FORWARD (br_netfilter) with icc on');
    assert.equal(out['hairpinOther'], 'a\n', 'another container reaches a published port through the gateway');
    assert.equal(out['hairpinSelf'], 'a\n', 'a container reaches its own published port through the gateway');
    assert.match(String(out['iccOffDirect']), /^failed/, 'icc=false: no direct traffic between containers');
    assert.equal(out['iccOffPublished'], 'c\n', 'icc=false still lets a published port through the gateway');
    assert.equal(out['otherBridgeGateway'], 'a\n', "a published port answers on another network's gateway too (it is a host address)");
    assert.equal(out['forwardPolicy'], 'DROP', 'the policy is left as found');
    assert.deepEqual(out['linksLeft'], []);
    assert.deepEqual(out['rulesLeft'], []);
    assert.deepEqual(out['forwardRulesLeft'], ['-P FORWARD DROP', '-A FORWARD -j DROP']);
    assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), hostForward, "the host's forwarding setting is untouched");
  } finally {
    // The namespace files are mounts in this (shared) mount namespace: none may outlive the test.
    for (const l of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const mnt = l.split(' ')[1];
      if (mnt?.startsWith(dir)) spawnSync('umount', [mnt]);
    }
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(dir), 'no namespace mount left');
    rmSync(dir, { recursive: true, force: true });
  }
});
