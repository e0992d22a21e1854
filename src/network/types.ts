// The network port's types live with the engine's ports; this adapter adds its record shape.
import type { EndpointInfo } from '../engine/ports.js';

export type {
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
} from '../engine/ports.js';

export type EndpointRecord = EndpointInfo & { schemaVersion: 1 };
