import { cpus, totalmem, release, hostname, arch } from 'node:os';
import { readFileSync, readdirSync } from 'node:fs';
import type { Route } from '../router.js';
import type { Backend } from '../backend.js';
import { API_VERSION, MIN_API_VERSION } from '../api-version.js';
import { sendJson } from '../body.js';
import { swarmInfoJson } from '../wire/swarm-json.js';

function pingHeaders(b: Backend): Record<string, string> {
  return {
    'Api-Version': API_VERSION,
    Ostype: 'linux',
    'Docker-Experimental': 'false',
    'Builder-Version': '1',
    // What the CLI reads to know whether swarm commands may work here.
    Swarm: b.swarm.swarm.active ? 'active/manager' : 'inactive',
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    Pragma: 'no-cache',
  };
}

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };

function operatingSystem(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

/**
 * What the daemon process holds now (berth's own, for the soak harness and for looking at a
 * daemon that grows): descriptors, timers and other handles the event loop keeps, memory.
 */
function resources(): Record<string, unknown> {
  const active: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) active[r] = (active[r] ?? 0) + 1;
  let fds = -1;
  try {
    fds = readdirSync('/proc/self/fd').length;
  } catch {
    // not Linux: no count
  }
  const m = process.memoryUsage();
  return { Fds: fds, Timers: active['Timeout'] ?? 0, Active: active, RssBytes: m.rss, HeapUsedBytes: m.heapUsed };
}

export function systemRoutes(b: Backend): Route[] {
  return [
    { method: 'GET', path: '/berth/resources', handler: ({ res }) => sendJson(res, 200, resources()) },
    {
      method: 'GET',
      path: '/_ping',
      handler: ({ req, res }) => {
        const h = pingHeaders(b);
        if (req.method === 'HEAD') {
          res.writeHead(200, { ...h, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '0' });
          res.end();
          return;
        }
        res.writeHead(200, { ...h, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '2' });
        res.end('OK');
      },
    },
    {
      method: 'GET',
      path: '/version',
      handler: ({ res }) => {
        const s = b.system();
        const details = {
          ApiVersion: API_VERSION,
          Arch: GOARCH[arch()] ?? arch(),
          BuildTime: '',
          Experimental: 'false',
          GitCommit: s.gitCommit,
          GoVersion: `node ${process.version}`,
          KernelVersion: release(),
          MinAPIVersion: MIN_API_VERSION,
          Os: 'linux',
        };
        sendJson(res, 200, {
          Platform: { Name: `berth ${s.engineVersion}` },
          Components: [{ Name: 'Engine', Version: s.engineVersion, Details: details }],
          Version: s.engineVersion,
          ApiVersion: API_VERSION,
          MinAPIVersion: MIN_API_VERSION,
          GitCommit: s.gitCommit,
          GoVersion: `node ${process.version}`,
          Os: 'linux',
          Arch: GOARCH[arch()] ?? arch(),
          KernelVersion: release(),
          BuildTime: '',
        });
      },
    },
    {
      method: 'GET',
      path: '/info',
      handler: async ({ res }) => {
        const s = b.system();
        const swarm = await b.swarm.swarm.info();
        const swarmWarnings = await b.swarm.swarm.warnings();
        const list = b.containers.list();
        const count = (st: string) => list.filter((c) => c.state.status === st).length;
        sendJson(res, 200, {
          ID: s.id,
          Containers: list.length,
          ContainersRunning: count('running'),
          ContainersPaused: count('paused'),
          ContainersStopped: list.length - count('running') - count('paused'),
          Images: b.images.list().length,
          Driver: s.storageDriver,
          DriverStatus: [],
          Plugins: { Volume: ['local'], Network: ['host', 'null'], Authorization: null, Log: ['json-file', 'local', 'none'] },
          MemoryLimit: true,
          SwapLimit: true,
          CpuCfsPeriod: true,
          CpuCfsQuota: true,
          CPUShares: true,
          CPUSet: true,
          PidsLimit: true,
          IPv4Forwarding: true,
          Debug: s.debug,
          NFd: 0,
          OomKillDisable: true,
          NGoroutines: 0,
          SystemTime: new Date().toISOString(),
          LoggingDriver: s.loggingDriver,
          CgroupDriver: s.cgroupDriver,
          CgroupVersion: s.cgroupVersion,
          NEventsListener: 0,
          KernelVersion: release(),
          OperatingSystem: operatingSystem(),
          OSVersion: '',
          OSType: 'linux',
          Architecture: arch() === 'x64' ? 'x86_64' : arch(),
          IndexServerAddress: 'https://index.docker.io/v1/',
          RegistryConfig: registryConfigJson(s.registries),
          NCPU: cpus().length,
          MemTotal: totalmem(),
          GenericResources: null,
          DockerRootDir: s.dataRoot,
          HttpProxy: '',
          HttpsProxy: '',
          NoProxy: '',
          Name: hostname(),
          Labels: s.labels,
          ExperimentalBuild: s.experimental,
          ServerVersion: s.engineVersion,
          Runtimes: s.runtimes,
          DefaultRuntime: s.defaultRuntime,
          Swarm: swarmInfoJson(swarm, ''),
          LiveRestoreEnabled: s.liveRestore,
          Isolation: '',
          InitBinary: '',
          ContainerdCommit: { ID: '' },
          RuncCommit: { ID: '' },
          InitCommit: { ID: '' },
          SecurityOptions: s.securityOptions,
          Warnings: [...s.warnings, ...swarmWarnings],
        });
      },
    },
  ];
}

/** dockerd's RegistryConfig: insecure CIDRs (loopback always), insecure names as index configs, mirrors. */
function registryConfigJson(r: { insecure: string[]; mirrors: string[] }): Record<string, unknown> {
  const cidrs = ['::1/128', '127.0.0.0/8', ...r.insecure.filter((x) => x.includes('/'))];
  const names = r.insecure.filter((x) => !x.includes('/'));
  const index = (name: string, secure: boolean, mirrors: string[]) => ({ Name: name, Mirrors: mirrors, Secure: secure, Official: name === 'docker.io' });
  return {
    IndexConfigs: Object.fromEntries([['docker.io', index('docker.io', true, r.mirrors)], ...names.map((n) => [n, index(n, false, [])])]),
    InsecureRegistryCIDRs: cidrs,
    Mirrors: r.mirrors,
  };
}
