import { join } from 'node:path';
import { RECORD_SCHEMA_VERSION, type ContainerRecord, type ContainerSpec, type MountSpec } from '../container.js';
import { checkUpdate } from '../resource-update.js';
import type { HostResources } from '../ports.js';
import { deriveSpec, type CreateOptions } from '../create-options.js';
import { generateName, validateName } from '../names.js';
import { newId, shortId, type ContainerId, type ImageId } from '../../lib/ids.js';
import { invalidParameter, isKind } from '../../lib/errors.js';
import { Rollback } from '../../lib/rollback.js';
import { unknownCapability } from '../../lib/capabilities.js';
import { keepsLogFile } from '../log-config.js';
import { withVolumesFrom } from '../mounts.js';
import type { ContainerContext } from './context.js';
import { initialAttachments, resolveNetworkMode } from '../networks/network-mode.js';

/**
 * `docker create`: the container's spec from the request and its image, its name, its
 * writable layer and volumes, and its record — written before the id is returned, every step
 * undone if a later one fails.
 */
export async function createContainer(x: ContainerContext, o: CreateOptions): Promise<{ record: ContainerRecord; warnings: string[] }> {
  const { d } = x;
  if (o.platform && !/^linux(\/|$)/.test(o.platform)) {
    throw invalidParameter(`image operating system "${o.platform.split('/')[0]}" cannot be used on this platform: operating system is not supported`);
  }
  const runtimes = d.runtimes();
  const runtime = o.runtime || runtimes.defaultName;
  if (!runtimes.names.includes(runtime)) throw invalidParameter(`unknown or invalid runtime name: ${runtime}`);
  // As dockerd's HostConfig checks, before the image is looked at: a name no one knows is a
  // 400 here, not a failed start later.
  for (const [field, names] of [['CapAdd', o.capAdd], ['CapDrop', o.capDrop]] as const) {
    const unknown = unknownCapability(names);
    if (unknown) throw invalidParameter(`invalid ${field}: unknown capability: "${unknown}"`);
  }
  const image = d.images.resolve(o.image);
  const id = newId() as ContainerId;
  const name = o.name !== undefined && o.name !== '' ? validateName(o.name) : generateName((n) => x.reg.nameTaken(n));
  const modeReq = {
    endpoint: o.endpoint,
    endpointsConfig: o.endpointsConfig,
    hostnameGiven: !!o.hostname,
    dnsGiven: !!o.dns,
    extraHostsGiven: (o.extraHosts?.length ?? 0) > 0,
  };
  const lookup = d.network ? (ref: string) => d.network?.describe(ref) : undefined;
  const modeCtx = { bridgeEnabled: d.bridgeEnabled(), containerId: (ref: string) => x.reg.find(ref).record.id, ...(lookup ? { network: lookup } : {}) };
  const { mode, warnings: modeWarnings } = resolveNetworkMode(o.networkMode, modeReq, modeCtx);
  const networks = initialAttachments(mode, o.networkMode, modeReq, modeCtx);
  // Before the image's volumes, which are not made where another container's mount lands.
  const sources = (o.volumesFrom ?? []).map((v) => ({ mounts: volumesFromSource(x, v.container), readOnly: v.readOnly }));
  const spec = deriveSpec({ ...o, mounts: withVolumesFrom(o.mounts, sources) }, image.runtimeConfig, shortId(id), mode);
  const warnings = [...modeWarnings, ...checkCreateResources(spec, d.host())];
  spec.runtime = runtime;
  const defaults = d.logDefaults();
  spec.log =
    o.logConfig && o.logConfig.driver !== '' && o.logConfig.driver !== defaults.driver
      ? { driver: o.logConfig.driver, opts: o.logConfig.opts }
      : { driver: defaults.driver, opts: { ...defaults.opts, ...(o.logConfig?.opts ?? {}) } };

  // Reserved before any await so two concurrent creates cannot both take it.
  const releaseName = x.reg.reserveName(name, id);
  const rb = new Rollback(d.log);
  rb.push('release name', releaseName);
  try {
    const top = image.topLayer;
    if (!top) throw invalidParameter(`image ${image.id} has no layers`);
    const chain = d.images.layerCacheIds(top);
    await d.storage.createContainerLayer(id, chain[chain.length - 1] as string, chain);
    rb.push('remove container layer', () => d.storage.removeContainerLayer(id));
    spec.mounts = await d.volumes.prepare(id, spec.mounts, {
      mount: async () => (await d.storage.mount(id, chain)).path,
      unmount: () => d.storage.unmount(id),
    });
    rb.push('release volumes', () => d.volumes.release(id, spec.mounts, { removeAnonymous: true }));
    const record: ContainerRecord = {
      schemaVersion: RECORD_SCHEMA_VERSION,
      id,
      name,
      created: new Date().toISOString(),
      engineVersion: d.engineVersion,
      imageId: image.id as ImageId,
      spec,
      request: o.request,
      state: { status: 'created' },
      exitCode: 0,
      error: '',
      restartCount: 0,
      hasBeenStarted: false,
      manuallyStopped: false,
      storage: { driver: d.storage.name, layerId: top },
      // The none driver keeps no file (conmon is told so).
      logPath: keepsLogFile(spec.log) ? join(x.dirOf(id), 'container.log') : '',
      networks,
    };
    rb.push('remove record', () => d.store.remove(id));
    await d.store.write(id, record);
    rb.commit();
    return { record, warnings };
  } catch (err) {
    await rb.run();
    throw err;
  }
}

/**
 * The mounts of a `--volumes-from` container. A missing one is a 400, not dockerd's 404: the
 * CLI takes a 404 from create for a missing image and would try to pull it.
 */
function volumesFromSource(x: ContainerContext, ref: string): readonly MountSpec[] {
  try {
    return x.reg.find(ref).record.spec.mounts;
  } catch (err) {
    if (isKind(err, 'NotFound')) throw invalidParameter(`No such container: ${ref}`);
    throw err;
  }
}

/** dockerd's create-time resource checks that depend on the kernel: a blkio weight it lacks is dropped with its warning. */
function checkCreateResources(spec: ContainerSpec, host: HostResources): string[] {
  const t = spec.tuning;
  if (!t?.blkioWeight) return [];
  const { update, warnings } = checkUpdate({ ...NO_CHANGE, blkioWeight: t.blkioWeight }, host);
  if (update.blkioWeight === 0) delete t.blkioWeight;
  return warnings;
}

const NO_CHANGE = { memory: 0, memorySwap: 0, memoryReservation: 0, nanoCpus: 0, cpuShares: 0, cpuQuota: 0, cpuPeriod: 0, cpusetCpus: '', cpusetMems: '', blkioWeight: 0 };
