import type { ClusterView, Entry, NodeObject, SecretObject, ServiceObject, ServiceStatus, TaskObject, SwarmInfo } from '../backend.js';
import { issuerInfo } from '../backend.js';

/*
 * Swarm objects in Docker's JSON: Version.Index is the store revision of the object's last
 * write (what `?version=` of an update must name); specs are returned as they were received.
 */
const version = (e: Entry<unknown>) => ({ Index: e.modRevision });

export function clusterJson(v: ClusterView, withTokens: boolean): Record<string, unknown> {
  const c = v.entry.value;
  const issuer = issuerInfo(c.caCert);
  return {
    ID: c.id,
    Version: version(v.entry),
    CreatedAt: c.createdAt,
    UpdatedAt: c.updatedAt,
    Spec: c.spec,
    TLSInfo: { TrustRoot: c.caCert, CertIssuerSubject: issuer.subject, CertIssuerPublicKey: issuer.publicKey },
    RootRotationInProgress: false,
    DefaultAddrPool: c.defaultAddrPool.length > 0 ? c.defaultAddrPool : null,
    SubnetSize: c.subnetSize,
    DataPathPort: c.dataPathPort,
    ...(withTokens ? { JoinTokens: { Worker: v.joinTokens.worker, Manager: v.joinTokens.manager } } : {}),
  };
}

export function nodeJson(e: Entry<NodeObject>, leaderId: string | undefined, caCert: string): Record<string, unknown> {
  const n = e.value;
  const issuer = issuerInfo(caCert);
  return {
    ID: n.id,
    Version: version(e),
    CreatedAt: n.createdAt,
    UpdatedAt: n.updatedAt,
    Spec: n.spec,
    Description: {
      Hostname: n.hostname,
      Platform: { Architecture: process.arch === 'x64' ? 'x86_64' : process.arch, OS: 'linux' },
      Resources: { NanoCPUs: n.nanoCpus, MemoryBytes: n.memoryBytes },
      Engine: { EngineVersion: n.engineVersion, ...(n.engineLabels && Object.keys(n.engineLabels).length > 0 ? { Labels: n.engineLabels } : {}), Plugins: [{ Type: 'Log', Name: 'json-file' }, { Type: 'Network', Name: 'bridge' }, { Type: 'Network', Name: 'host' }, { Type: 'Network', Name: 'null' }, { Type: 'Volume', Name: 'local' }] },
      TLSInfo: { TrustRoot: caCert, CertIssuerSubject: issuer.subject, CertIssuerPublicKey: issuer.publicKey },
    },
    // Nodes written before berth tracked liveness have no status: they are ready.
    Status: { State: n.status?.state ?? 'ready', ...(n.status?.message ? { Message: n.status.message } : {}), Addr: n.addr },
    // A manager the leader has marked down is one its peers cannot reach either.
    ...(n.spec.Role === 'manager' ? { ManagerStatus: { ...(n.id === leaderId ? { Leader: true } : {}), Reachability: n.status?.state === 'down' ? 'unreachable' : 'reachable', Addr: n.managerAddr } } : {}),
  };
}

export function serviceJson(e: Entry<ServiceObject>, status: ServiceStatus | undefined): Record<string, unknown> {
  const s = e.value;
  const ports = (s.spec.EndpointSpec?.Ports ?? []).map((p) => ({ Protocol: p.Protocol ?? 'tcp', TargetPort: p.TargetPort, PublishedPort: p.PublishedPort, PublishMode: p.PublishMode ?? 'ingress', ...(p.Name ? { Name: p.Name } : {}) }));
  return {
    ID: s.id,
    Version: version(e),
    CreatedAt: s.createdAt,
    UpdatedAt: s.updatedAt,
    Spec: s.spec,
    ...(s.previousSpec ? { PreviousSpec: s.previousSpec } : {}),
    Endpoint: { Spec: s.spec.EndpointSpec ?? {}, ...(ports.length ? { Ports: ports } : {}) },
    ...(s.updateStatus
      ? { UpdateStatus: { State: s.updateStatus.state, StartedAt: s.updateStatus.startedAt, ...(s.updateStatus.completedAt ? { CompletedAt: s.updateStatus.completedAt } : {}), Message: s.updateStatus.message } }
      : {}),
    ...(status ? { ServiceStatus: status } : {}),
  };
}

export function taskJson(e: Entry<TaskObject>): Record<string, unknown> {
  const t = e.value;
  const st = t.status;
  const ports = (t.ports ?? []).map((p) => ({ Protocol: p.Protocol ?? 'tcp', TargetPort: p.TargetPort, PublishedPort: p.PublishedPort, PublishMode: 'host' }));
  return {
    ID: t.id,
    Version: version(e),
    CreatedAt: t.createdAt,
    UpdatedAt: t.updatedAt,
    Labels: {},
    Spec: t.spec,
    ServiceID: t.serviceId,
    ...(t.slot > 0 ? { Slot: t.slot } : {}),
    ...(t.nodeId ? { NodeID: t.nodeId } : {}),
    Status: {
      Timestamp: st.timestamp,
      State: st.state,
      Message: st.message,
      ...(st.err ? { Err: st.err } : {}),
      ...(st.containerId ? { ContainerStatus: { ContainerID: st.containerId, PID: st.pid ?? 0, ExitCode: st.exitCode ?? 0 } } : {}),
      PortStatus: ports.length > 0 && st.state === 'running' ? { Ports: ports } : {},
    },
    DesiredState: t.desiredState,
  };
}

/** A secret's data is never returned; a config's is. */
export function secretJson(e: Entry<SecretObject>, withData: boolean): Record<string, unknown> {
  const s = e.value;
  return {
    ID: s.id,
    Version: version(e),
    CreatedAt: s.createdAt,
    UpdatedAt: s.updatedAt,
    Spec: withData ? { ...s.spec, Data: s.data } : s.spec,
  };
}

/** `docker info`'s Swarm section. */
export function swarmInfoJson(i: SwarmInfo | undefined, nodeAddrFallback: string): Record<string, unknown> {
  if (!i) return { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null };
  const addr = i.state.advertiseAddr.replace(/:\d+$/, '') || nodeAddrFallback;
  return {
    NodeID: i.state.nodeId,
    NodeAddr: addr,
    LocalNodeState: i.error ? 'error' : 'active',
    ControlAvailable: i.isManager && !i.error,
    Error: i.error,
    RemoteManagers: i.remoteManagers.map((m) => ({ NodeID: m.nodeId, Addr: m.addr })),
    Nodes: i.nodes,
    Managers: i.managers,
    ...(i.cluster
      ? {
          Cluster: {
            ID: i.cluster.value.id,
            Version: version(i.cluster),
            CreatedAt: i.cluster.value.createdAt,
            UpdatedAt: i.cluster.value.updatedAt,
            Spec: i.cluster.value.spec,
            TLSInfo: (() => {
              const is = issuerInfo(i.cluster.value.caCert);
              return { TrustRoot: i.cluster.value.caCert, CertIssuerSubject: is.subject, CertIssuerPublicKey: is.publicKey };
            })(),
            RootRotationInProgress: false,
            DefaultAddrPool: i.cluster.value.defaultAddrPool.length ? i.cluster.value.defaultAddrPool : null,
            SubnetSize: i.cluster.value.subnetSize,
            DataPathPort: i.cluster.value.dataPathPort,
          },
        }
      : {}),
  };
}
