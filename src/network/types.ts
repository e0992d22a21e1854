// The network port's types live with the engine's ports; this adapter adds its record shapes.
import type { EndpointInfo, NetworkConfig } from '../engine/ports.js';

export type {
  AddressPool,
  CleanupReport,
  Connected,
  ConnectOptions,
  EndpointInfo,
  HeldPorts,
  InterfaceStats,
  IpamPool,
  NetworkConfig,
  NetworkDriver,
  NetworkInfo,
  PortMapping,
  PortRequest,
  Protocol,
  RestoreInput,
  RestoreReport,
  UserNetworkMeta,
} from '../engine/ports.js';

/**
 * A container's network sandbox: its namespace file and one endpoint per network, in the
 * order they were connected. Written before anything it names is created, so after a kill -9
 * the record names everything that may exist.
 */
export type SandboxRecord = { schemaVersion: 2; containerId: string; netnsPath: string; endpoints: EndpointInfo[] };

/** A network's record; `removing` is set before its removal starts, which the next start finishes. */
export type NetworkRecord = { schemaVersion: 1; config: NetworkConfig; mac: string; removing?: boolean };
