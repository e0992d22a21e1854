import { isNetworkName, isRunningLike, type NetworkAttachment } from '../container.js';
import { forbidden, invalidParameter, notFound } from '../../lib/errors.js';
import type { ContainerContext } from './context.js';

export type ConnectRequest = { aliases: string[]; ipv4Address?: string | undefined; macAddress?: string | undefined };

/**
 * `docker network connect/disconnect`: the container's list of networks changes under its
 * lock and is recorded before the change is acknowledged; a running container gets (or loses)
 * the endpoint at once, a stopped one at its next start.
 */
export class ContainerNetworks {
  readonly #x: ContainerContext;

  constructor(x: ContainerContext) {
    this.#x = x;
  }

  async connect(ref: string, network: string, req: ConnectRequest): Promise<{ id: string; name: string; network: string; networkId: string }> {
    const x = this.#x;
    const attach = x.d.network;
    const c = x.reg.managed(ref);
    return x.lock.run(c.record.id, async () => {
      const r = c.record;
      const net = attach?.describe(network);
      if (!attach || !net) throw notFound(`network ${network} not found`);
      const mode = r.spec.networkMode;
      if (mode === 'host') throw forbidden('container cannot be disconnected from host network or connected to host network');
      if (mode.startsWith('container:')) throw forbidden('container sharing network namespace with another container or host cannot be connected to any other network');
      if (mode === 'none') throw forbidden('container cannot be connected to multiple networks with one of the networks in private (none) mode');
      if (r.state.status === 'removing' || r.state.status === 'dead') throw forbidden(`container ${r.id} is marked for removal and cannot be connected or disconnected to the network`);
      if (r.networks.some((a) => a.network === net.name)) throw forbidden(`endpoint with name ${r.name} already exists in network ${net.name}`);
      if (!net.user) {
        if (req.aliases.length > 0) throw invalidParameter('network-scoped alias is supported only for containers in user defined networks');
        if (req.ipv4Address) throw invalidParameter('user specified IP address is supported on user defined networks only');
      } else if (req.ipv4Address && !net.subnetGiven) {
        throw invalidParameter('user specified IP address is supported only when connecting to networks with user configured subnets');
      }
      const att: NetworkAttachment = {
        network: net.name,
        networkId: net.id,
        aliases: [...new Set(req.aliases)],
        ...(req.ipv4Address ? { ipv4Address: req.ipv4Address } : {}),
        ...(req.macAddress ? { macAddress: req.macAddress } : {}),
      };
      const running = isRunningLike(r.state);
      if (running) await attach.attach(r, att);
      r.networks = [...r.networks, att];
      try {
        await x.persist(c);
      } catch (err) {
        r.networks = r.networks.filter((a) => a !== att);
        if (running) await attach.detach(r, att.network);
        throw err;
      }
      return { id: r.id, name: r.name, network: net.name, networkId: net.id };
    });
  }

  async disconnect(ref: string, network: string, force: boolean): Promise<{ id: string; name: string; network: string }> {
    const x = this.#x;
    const attach = x.d.network;
    const c = x.reg.managed(ref);
    return x.lock.run(c.record.id, async () => {
      const r = c.record;
      const mode = r.spec.networkMode;
      if (mode === 'host') throw forbidden('container cannot be disconnected from host network or connected to host network');
      const net = attach?.describe(network);
      const name = net?.name ?? network;
      const att = r.networks.find((a) => a.network === name || (net !== undefined && a.networkId === net.id));
      if (!att) {
        if (!net && !force) throw notFound(`network ${network} not found`);
        throw forbidden(`container ${r.id} is not connected to network ${name}`);
      }
      // Also when stopped: a static address it held there is released.
      if (attach) await attach.detach(r, att.network);
      r.networks = r.networks.filter((a) => a !== att);
      await x.persist(c);
      return { id: r.id, name: r.name, network: att.network };
    });
  }

  /** Whether the container is attached to a network, by name (for `docker network rm` of a network used by stopped containers). */
  attachedTo(network: string): string[] {
    return this.#x.reg
      .all()
      .filter((c) => isNetworkName(c.record.spec.networkMode) && c.record.networks.some((a) => a.network === network))
      .map((c) => c.record.id);
  }
}
