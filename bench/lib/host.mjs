// Machine facts and versions for the report, and the host network state dockerd changes
// (iptables FORWARD policy, its DOCKER chains and rules, docker0, net.ipv4.ip_forward),
// recorded before dockerd starts and put back afterwards.
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, hostname, totalmem } from 'node:os';
import { run } from './util.mjs';
import { DOCKER_BIP } from './engines.mjs';

export function machineFacts() {
  const c = cpus();
  let os = '';
  try {
    os = /PRETTY_NAME="([^"]*)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // none
  }
  let cgroup = 'v1 (hybrid)';
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) cgroup = 'v2';
  return {
    host: hostname(),
    cpus: c.length,
    cpuModel: c[0]?.model ?? '',
    memTotalGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    os,
    cgroup,
    node: process.version,
  };
}

async function firstLine(cmd, args) {
  const r = await run(cmd, args, { timeoutMs: 20_000 });
  return (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
}

export async function versions({ berthVersion, berthCommit }) {
  const runc = await firstLine('runc', ['--version']);
  const conmon = await firstLine('conmon', ['--version']);
  return {
    berth: `${berthVersion}${berthCommit ? ` (${berthCommit})` : ''}`,
    dockerd: (await firstLine('dockerd', ['--version'])).replace(/^Docker version /, ''),
    containerd: (await firstLine('containerd', ['--version'])).split(' ').slice(2).join(' '),
    runc: runc.replace(/^runc version /, ''),
    conmon: conmon.replace(/^conmon version /, ''),
    dockerCli: (await firstLine('docker', ['--version'])).replace(/^Docker version /, ''),
  };
}

const TABLES = ['filter', 'nat'];
const RUN_DIRS = ['/run/docker', '/run/containerd'];

/** What dockerd is about to change. */
export async function snapshotNetwork() {
  const snap = { forwardPolicy: 'ACCEPT', chains: {}, ipForward: null, docker0: false };
  const f = await run('iptables', ['-S', 'FORWARD'], { timeoutMs: 20_000 });
  snap.forwardPolicy = /^-P FORWARD (\S+)/m.exec(f.stdout)?.[1] ?? 'ACCEPT';
  for (const t of TABLES) snap.chains[t] = await chains(t);
  try {
    snap.ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  } catch {
    // none
  }
  snap.docker0 = (await run('ip', ['link', 'show', 'docker0'], { timeoutMs: 10_000 })).code === 0;
  // dockerd and containerd create these even on other paths (plugin and shim socket folders).
  snap.runDirs = Object.fromEntries(RUN_DIRS.map((d) => [d, existsSync(d)]));
  return snap;
}

async function chains(table) {
  const r = await run('iptables', ['-t', table, '-S'], { timeoutMs: 20_000 });
  return r.stdout.split('\n').filter((l) => l.startsWith('-N ')).map((l) => l.slice(3).trim());
}

/**
 * Undo dockerd's changes: rules in the built-in chains that jump to chains it created or name
 * docker0 or its subnet, then those chains, docker0 (if it was not there before), the FORWARD
 * policy and ip_forward. Returns notes about what it did.
 */
export async function restoreNetwork(snap) {
  const notes = [];
  const subnet = DOCKER_BIP.replace(/\.1\/24$/, '.0/24');
  for (const t of TABLES) {
    const before = new Set(snap.chains[t] ?? []);
    const ours = (await chains(t)).filter((c) => !before.has(c) && c.startsWith('DOCKER'));
    const rules = (await run('iptables', ['-t', t, '-S'], { timeoutMs: 20_000 })).stdout.split('\n').filter((l) => l.startsWith('-A '));
    for (const rule of rules) {
      const words = rule.split(/\s+/);
      const chain = words[1];
      if (ours.includes(chain)) continue; // flushed with the chain
      const mentionsOurs = words.some((w, i) => (words[i - 1] === '-j' || words[i - 1] === '-g') && ours.includes(w));
      if (mentionsOurs || rule.includes('docker0') || rule.includes(subnet)) {
        const r = await run('iptables', ['-t', t, '-D', ...words.slice(1).map(unquote)], { timeoutMs: 20_000 });
        notes.push(`iptables -t ${t} ${rule.replace(/^-A/, '-D')}${r.code ? ` (failed: ${r.stderr.trim()})` : ''}`);
      }
    }
    for (const c of ours) await run('iptables', ['-t', t, '-F', c], { timeoutMs: 20_000 });
    for (const c of ours) {
      const r = await run('iptables', ['-t', t, '-X', c], { timeoutMs: 20_000 });
      notes.push(`iptables -t ${t} -X ${c}${r.code ? ` (failed: ${r.stderr.trim()})` : ''}`);
    }
  }
  const f = await run('iptables', ['-S', 'FORWARD'], { timeoutMs: 20_000 });
  const policy = /^-P FORWARD (\S+)/m.exec(f.stdout)?.[1];
  if (policy && policy !== snap.forwardPolicy) {
    await run('iptables', ['-P', 'FORWARD', snap.forwardPolicy], { timeoutMs: 20_000 });
    notes.push(`iptables FORWARD policy ${policy} -> ${snap.forwardPolicy}`);
  }
  if (!snap.docker0 && (await run('ip', ['link', 'show', 'docker0'], { timeoutMs: 10_000 })).code === 0) {
    await run('ip', ['link', 'del', 'docker0'], { timeoutMs: 10_000 });
    notes.push('removed docker0');
  }
  if (snap.ipForward !== null) {
    const cur = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    if (cur !== snap.ipForward) {
      await run('sysctl', ['-q', '-w', `net.ipv4.ip_forward=${snap.ipForward}`], { timeoutMs: 10_000 });
      notes.push(`net.ipv4.ip_forward ${cur} -> ${snap.ipForward}`);
    }
  }
  for (const [d, existed] of Object.entries(snap.runDirs ?? {})) {
    if (!existed && existsSync(d) && rmdirEmpty(d)) notes.push(`removed empty ${d}`);
  }
  return notes;
}

/** rmdir a tree of empty folders (never removes a file); true if `dir` is gone. */
function rmdirEmpty(dir) {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirEmpty(join(dir, e.name));
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

function unquote(w) {
  return w.replace(/^"(.*)"$/, '$1');
}
