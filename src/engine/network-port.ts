/*
 * The network port: what the engine asks of the network adapter (src/network implements it
 * with iproute2 and iptables). Re-exported by ports.ts.
 */

export type Protocol = 'tcp' | 'udp';

/** A published port as asked for: host port 0..0 means "any free one" (ephemeral). */
export type PortRequest = { proto: Protocol; containerPort: number; hostIp: string; hostPortStart: number; hostPortEnd: number };

/** A published port once its host port is chosen. `hostIp` '' means all addresses. */
export type PortMapping = { proto: Protocol; containerPort: number; hostIp: string; hostPort: number };

/** A `default-address-pools` entry: user networks' subnets are blocks of `size` bits cut from `base`. */
export type AddressPool = { base: string; size: number };

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
  /**
   * Create or adopt a network's bridge, addresses, sysctls and base rules; idempotent. Its
   * record is written before anything is created, so a daemon killed midway finds it and
   * finishes the job at its next start.
   */
  ensureNetwork(config: NetworkConfig): Promise<NetworkInfo>;
  network(name: string): NetworkInfo | undefined;
  /** Every network set up (the default bridge and user networks), by name. */
  networks(): NetworkInfo[];
  /** User networks recorded by a previous run, to be ensured at start-up (and those whose removal was cut short, to be finished). */
  recordedNetworks(): { config: NetworkConfig; removing: boolean }[];
  /**
   * A subnet and gateway for a new network: the first block of the pools (Docker's defaults
   * when there are none) that overlaps no network of this daemon and no route of the host.
   */
  freeSubnet(pools: readonly AddressPool[]): { subnet: string; gateway: string };
  /**
   * Give a container an interface on a network: an address, its namespace (made at the first
   * network), a veth into it, published ports (host ports reserved as bound sockets in
   * `reservation`, and DNAT rules), and its names in the network's resolver. All or nothing:
   * on failure nothing of this call is left (a refused host port is Docker's
   * `Bind for 0.0.0.0:8080 failed: port is already allocated`). Calling it again for the same
   * container and network re-asserts the same endpoint.
   */
  connect(containerId: string, opts: ConnectOptions): Promise<Connected>;
  /**
   * Remove the container's endpoint on `network` (every one without it: the container
   * stopped), with its rules, reservation, resolver entry and address (a static one stays
   * reserved while `keepStaticAddress`, i.e. at stop). The namespace goes with the last one.
   * Idempotent.
   */
  disconnect(containerId: string, opts: { network?: string; keepStaticAddress: boolean; signal?: AbortSignal }): Promise<void>;
  /** The container's endpoint on `network`, or its first one. */
  endpoint(containerId: string, network?: string): EndpointInfo | undefined;
  /** The container's endpoints, in the order they were connected. */
  endpointsOf(containerId: string): EndpointInfo[];
  endpoints(network?: string): EndpointInfo[];
  /** New names for a container's resolver entries (a rename). */
  setDnsNames(containerId: string, names: (network: string) => string[]): Promise<void>;
  /**
   * After a restart: adopt the endpoints of running containers untouched (repairing what is
   * missing), clean those of containers that exited or went away, free their addresses, and
   * remove leftovers of operations cut short.
   */
  restore(input: RestoreInput): Promise<RestoreReport>;
  /** Counters of the container's interfaces (docker stats' `networks`); no spawn with its pid. */
  stats(containerId: string, pid?: number): Promise<Record<string, InterfaceStats>>;
  /**
   * Remove a network's rules, resolver file, record and (if berth made it) its bridge; refused
   * while endpoints are attached. Marked first: a removal cut short is finished at the next start.
   */
  removeNetwork(name: string): Promise<void>;
  /** Make sure the resolver runs with the current entries (started again if it died). */
  checkResolver(): Promise<void>;
  /** Stop the resolver (a daemon stopping without live restore: no container is left to serve). */
  stopResolver(): Promise<void>;
  /** The admin cleanup: every endpoint, bridge berth made, chain and jump of this instance, the resolver; ip_forward put back. */
  removeAll(): Promise<CleanupReport>;
}

/** What `docker network create` asked, kept with the network for inspect (absent on the default bridge). */
export type UserNetworkMeta = {
  created: string;
  labels: Record<string, string>;
  /** Driver options as given (`-o`). */
  options: Record<string, string>;
  attachable: boolean;
  /** `--subnet` was given: only then is `--ip` accepted, as in Docker. */
  subnetGiven: boolean;
  ipamOptions: Record<string, string>;
};

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
  /** `--internal`: no route out, no masquerade, nothing in or out but its own bridge. */
  internal?: boolean;
  /** Containers on it resolve each other by name (user networks; not the default bridge, as in Docker). */
  dns?: boolean;
  user?: UserNetworkMeta;
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
  /**
   * The container's default route goes through this network; by default the first network of
   * the container that is not internal takes it, as in Docker.
   */
  gatewayRoute?: boolean | undefined;
  /** What resolves to its address for the others on a network with a resolver (name, aliases, short id). */
  dnsNames?: string[] | undefined;
  /** The container's `--dns`: where its other lookups are forwarded. */
  dnsServers?: string[] | undefined;
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
  gatewayRoute: boolean;
  dnsNames: string[];
  dnsServers: string[];
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
  /** What the resolver needed: nothing (adopted as it was), a reload, a start (it had died). */
  resolver?: string;
};

export type CleanupReport = { endpoints: string[]; bridges: string[]; rules: string; ipForward: string | undefined; resolver: boolean };
