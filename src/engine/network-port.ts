/*
 * The network port: what the engine asks of the network adapter (src/network implements it
 * with iproute2 and iptables). Re-exported by ports.ts.
 */

export type Protocol = 'tcp' | 'udp';

/** A published port as asked for: host port 0..0 means "any free one" (ephemeral). */
export type PortRequest = { proto: Protocol; containerPort: number; hostIp: string; hostPortStart: number; hostPortEnd: number };

/** A published port once its host port is chosen. `hostIp` '' means all addresses. */
export type PortMapping = { proto: Protocol; containerPort: number; hostIp: string; hostPort: number };

/** A network's addresses: its subnet, gateway, and where dynamic addresses come from. */
export type IpamPool = { subnet: string; gateway: string; ipRange?: string | undefined };

/** Counters of one interface (docker stats' `networks`). */
export type InterfaceStats = {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
};

/**
 * What the engine needs to give containers a network. The engine never sees ip, iptables
 * or a socket: it asks for a network, connects a container before starting it, hands the returned
 * descriptors to the container's monitor, and disconnects it when it stops.
 *
 * Everything the adapter creates is recorded on disk before it is created, so a restarted
 * daemon adopts or cleans it from its records, never by guessing from names.
 */
export interface NetworkDriver {
  /** Load records (synchronous reads: at start-up, before the API answers). */
  init(): Promise<void>;
  /** Create or adopt a network's bridge, addresses, sysctls and base rules; idempotent. */
  ensureNetwork(config: NetworkConfig): Promise<NetworkInfo>;
  network(name: string): NetworkInfo | undefined;
  /**
   * Give a container (not yet started) an address, a netns with `eth0` on the network, and
   * its published ports: host ports reserved (bound sockets in `reservation`) and DNAT rules.
   * All or nothing: on failure nothing is left (a refused host port is Docker's
   * `Bind for 0.0.0.0:8080 failed: port is already allocated`). Calling it again for the same
   * container re-asserts the same endpoint.
   */
  connect(containerId: string, opts: ConnectOptions): Promise<Connected>;
  /**
   * Remove the container's endpoint, rules and reservation, and free its address (a static
   * one stays reserved while `keepStaticAddress`, i.e. at stop). Idempotent.
   */
  disconnect(containerId: string, opts: { keepStaticAddress: boolean; signal?: AbortSignal }): Promise<void>;
  endpoint(containerId: string): EndpointInfo | undefined;
  endpoints(network?: string): EndpointInfo[];
  /**
   * After a restart: adopt the endpoints of running containers untouched (repairing what is
   * missing), clean those of containers that exited or went away, free their addresses, and
   * remove leftovers of operations cut short.
   */
  restore(input: RestoreInput): Promise<RestoreReport>;
  /** Counters of the container's interfaces (docker stats' `networks`); no spawn with its pid. */
  stats(containerId: string, pid?: number): Promise<Record<string, InterfaceStats>>;
  /** Remove a network's rules and (if berth made it) its bridge; refused while endpoints are attached. */
  removeNetwork(name: string): Promise<void>;
  /** The admin cleanup: every endpoint, bridge berth made, chain and jump of this instance; ip_forward put back. */
  removeAll(): Promise<CleanupReport>;
}

export type NetworkConfig = {
  /** Docker's network name (`bridge` for the default one). */
  name: string;
  id: string;
  /** The Linux bridge (dockerd's `bridge` option names an existing one: then `external`). */
  bridge: string;
  /** A bridge berth did not make: used as found (its address is the gateway), never changed or removed. */
  external: boolean;
  /** `bip` gives both: the subnet and the gateway (the bridge's address). */
  subnet: string;
  gateway: string;
  /** dockerd's `fixed-cidr`: where dynamic addresses come from. */
  ipRange?: string | undefined;
  mtu: number;
  icc: boolean;
  ipMasq: boolean;
};

export type NetworkInfo = NetworkConfig & {
  mac: string;
  /** What ensureNetwork found: nothing (created), berth's bridge as it should be (adopted), or one it had to fix. */
  action: 'created' | 'adopted' | 'repaired';
  /** Set when the recorded address pool differs from the configured one (a `bip` change between runs). */
  previousPool?: IpamPool | undefined;
};

export type ConnectOptions = {
  network: string;
  /** `--ip`: a static address, kept reserved across stops. */
  address?: string | undefined;
  /** `--mac-address`; by default 02:42 followed by the address bytes, as Docker. */
  mac?: string | undefined;
  ports: PortRequest[];
  signal?: AbortSignal | undefined;
};

export type EndpointInfo = {
  containerId: string;
  network: string;
  networkId: string;
  endpointId: string;
  bridge: string;
  /** The namespace file to put in the OCI spec (`linux.namespaces[{type: network, path}]`). */
  netnsPath: string;
  hostVeth: string;
  ifName: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  mtu: number;
  ports: PortMapping[];
  /** The nat chain holding its DNAT rules, when it publishes ports. */
  chain?: string | undefined;
};


/** Host ports held as bound sockets: pass `fds` to the monitor's spawn, then `close()` berthd's copies. */
export interface HeldPorts {
  readonly fds: readonly number[];
  close(): void;
}

export type Connected = { endpoint: EndpointInfo; reservation: HeldPorts };

export type RestoreInput = {
  /** Running containers, with the PIDs that hold their namespace and their reserved ports. */
  running: ReadonlyMap<string, { pid: number; monitorPid: number }>;
  /** Every container that still exists (a stopped one keeps its static address). */
  existing: ReadonlySet<string>;
};

export type RestoreReport = {
  adopted: string[];
  repaired: { containerId: string; what: string[] }[];
  /** Endpoints of containers no longer running, torn down. */
  cleaned: string[];
  addressesFreed: { network: string; address: string; owner: string }[];
  /** Published ports of adopted containers no longer held by their monitor. */
  ports: { containerId: string; mapping: PortMapping; state: 'taken' | 'reacquired' }[];
  /** Endpoints that could not be adopted (their network is gone, or their namespace is). */
  lost: { containerId: string; reason: string }[];
  /** Objects with no record (an operation cut short), removed. */
  leftovers: { netns: string[]; chains: string[] };
};

export type CleanupReport = { endpoints: string[]; bridges: string[]; rules: string; ipForward: string | undefined };
