import type { MountSpec } from '../backend.js';
import { cleanPath } from '../../lib/clean-path.js';
import { invalidParameter, messageOf, notFound } from '../../lib/errors.js';

/**
 * Docker's mount requests — `HostConfig.Binds` (`-v`), `HostConfig.Mounts` (`--mount`) and
 * `Config.Volumes` (`-v /path`) — translated into the engine's MountSpecs with moby's rules
 * and messages (daemon/volume/mounts/linux_parser.go).
 */

type Json = Record<string, unknown>;

/** moby's mount.Mount, the JSON of one `HostConfig.Mounts` entry. */
type MountConfig = {
  Type: string;
  Source: string;
  Target: string;
  ReadOnly: boolean;
  BindOptions?: { Propagation?: string; CreateMountpoint?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> }; Subpath?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[][] };
  ImageOptions?: unknown;
  ClusterOptions?: unknown;
};

const RW_MODES = new Set(['rw', 'ro']);
const LABEL_MODES = new Set(['z', 'Z']);
const PROPAGATION_MODES = new Set(['private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared']);
const COPY_MODES = new Set(['nocopy']);
const CONSISTENCY_MODES = new Set(['consistent', 'cached', 'delegated']);
const MODE_GROUPS = [RW_MODES, LABEL_MODES, PROPAGATION_MODES, COPY_MODES, CONSISTENCY_MODES];

/** A `-v` mode: comma-separated, known words, at most one of each group. */
export function validMountMode(mode: string): boolean {
  if (mode === '') return true;
  const counts = MODE_GROUPS.map(() => 0);
  for (const o of mode.split(',')) {
    const g = MODE_GROUPS.findIndex((s) => s.has(o));
    if (g < 0) return false;
    counts[g] = (counts[g] ?? 0) + 1;
  }
  return counts.every((c) => c <= 1);
}

const isAbs = (p: string) => p.replace(/\\/g, '/').startsWith('/');

class MountConfigError extends Error {}

function mountConfigError(type: string, msg: string): MountConfigError {
  return new MountConfigError(`invalid mount config for type ${JSON.stringify(type)}: ${msg}`);
}

/** moby's validateMountConfigImpl, without the bind-source check (the engine does it at create). */
function validate(m: MountConfig): void {
  const fail = (msg: string) => mountConfigError(m.Type, msg);
  const extra: [keyof MountConfig, string][] = [
    ['BindOptions', 'bind'], ['VolumeOptions', 'volume'], ['ImageOptions', 'image'], ['TmpfsOptions', 'tmpfs'], ['ClusterOptions', 'cluster'],
  ];
  for (const [field, type] of extra) {
    if (m.Type !== type && m[field] !== undefined && m[field] !== null) throw fail(`field ${field} must not be specified`);
  }
  if (m.Target === '') throw fail('field Target must not be empty');
  if (cleanPath(m.Target.replace(/\\/g, '/')) === '/') throw fail("invalid specification: destination can't be '/'");
  if (!isAbs(m.Target)) throw fail(`invalid mount path: '${m.Target}' mount path must be absolute`);
  switch (m.Type) {
    case 'bind': {
      if (m.Source === '') throw fail('field Source must not be empty');
      const prop = m.BindOptions?.Propagation;
      if (prop && !PROPAGATION_MODES.has(prop)) throw fail(`invalid propagation mode: ${prop}`);
      if (!isAbs(m.Source)) throw fail(`invalid mount path: '${m.Source}' mount path must be absolute`);
      return;
    }
    case 'volume': {
      const sub = m.VolumeOptions?.Subpath;
      if (sub) throw fail('volume subpaths are not supported by berth');
      return;
    }
    case 'tmpfs':
      if (m.Source !== '') throw fail('field Source must not be specified');
      tmpfsOptions(m);
      return;
    case 'image':
      throw fail('image mounts are not supported by berth');
    default:
      throw fail('mount type unknown');
  }
}

/** moby's ConvertTmpfsOptions: `ro`, `mode=` (octal), `size=` (largest exact unit), then exec/noexec. */
function tmpfsOptions(m: MountConfig): string[] {
  const fail = (msg: string) => mountConfigError(m.Type, msg);
  const o = m.TmpfsOptions ?? {};
  const out: string[] = m.ReadOnly ? ['ro'] : [];
  if (o.Mode) out.push(`mode=${o.Mode.toString(8)}`);
  if (o.SizeBytes) {
    const unit = ([['g', 2 ** 30], ['m', 2 ** 20], ['k', 2 ** 10]] as const).find(([, d]) => o.SizeBytes! % d === 0);
    out.push(unit ? `size=${o.SizeBytes / unit[1]}${unit[0]}` : `size=${o.SizeBytes}`);
  }
  for (const opt of o.Options ?? []) {
    if (!Array.isArray(opt) || opt.length < 1 || opt.length > 2) throw fail('invalid option array length');
    if (opt[0] !== 'exec' && opt[0] !== 'noexec') throw fail(`invalid option: ${String(opt[0])}`);
    out.push(opt.length === 1 ? opt[0] : `${opt[0]}=${String(opt[1])}`);
  }
  return out;
}

/** A validated MountConfig in the engine's terms. `mode` is what `-v` gave, if anything. */
function toSpec(m: MountConfig, mode: string | undefined): MountSpec {
  const destination = cleanPath(m.Target.replace(/\\/g, '/'));
  const readOnly = m.ReadOnly;
  switch (m.Type) {
    case 'bind':
      return {
        type: 'bind',
        source: cleanPath(m.Source),
        destination,
        readOnly,
        propagation: m.BindOptions?.Propagation || 'rprivate',
        // `-v` makes a missing host folder; `--mount` refuses one unless asked to create it.
        createSource: mode !== undefined || m.BindOptions?.CreateMountpoint === true,
        mode: mode ?? '',
      };
    case 'volume': {
      const vo = m.VolumeOptions;
      const driver = vo?.DriverConfig?.Name;
      if (driver && driver !== 'local') throw notFound(`error looking up volume plugin ${driver}: plugin "${driver}" not found`);
      const create = {
        ...(vo?.Labels && Object.keys(vo.Labels).length > 0 ? { labels: vo.Labels } : {}),
        ...(vo?.DriverConfig?.Options && Object.keys(vo.DriverConfig.Options).length > 0 ? { options: vo.DriverConfig.Options } : {}),
      };
      return {
        type: 'volume',
        source: '',
        destination,
        readOnly,
        ...(m.Source ? { name: m.Source } : {}),
        anonymous: m.Source === '',
        ...(vo?.NoCopy ? { nocopy: true } : {}),
        ...(Object.keys(create).length > 0 ? { volumeCreate: create } : {}),
        // A local volume's mode reads "z" unless one was given (moby's setBindModeIfNull).
        mode: mode || 'z',
      };
    }
    default:
      return { type: 'tmpfs', source: '', destination, readOnly, options: tmpfsOptions(m), mode: '' };
  }
}

/** Go's strings.SplitN. */
function splitN(s: string, sep: string, n: number): string[] {
  const parts = s.split(sep);
  return parts.length <= n ? parts : [...parts.slice(0, n - 1), parts.slice(n - 1).join(sep)];
}

/** One `-v` / `HostConfig.Binds` entry: `/host:/ctr[:mode]`, `name:/ctr[:mode]` or `/ctr`. */
export function parseBind(raw: string): MountSpec {
  const invalidSpec = () => invalidParameter(`invalid volume specification: '${raw}'`);
  const arr = splitN(raw, ':', 4);
  if (arr[0] === '') throw invalidSpec();
  let source = '';
  let target = '';
  let mode = '';
  if (arr.length === 1) target = arr[0] as string;
  else if (arr.length === 2) {
    // `/foo:rw` is a destination and a mode, which a volume cannot be.
    if (validMountMode(arr[1] as string)) throw invalidSpec();
    [source = '', target = ''] = arr;
  } else if (arr.length === 3) [source = '', target = '', mode = ''] = arr;
  else throw invalidSpec();
  if (!validMountMode(mode)) throw invalidParameter(`invalid mode: ${mode}`);
  const opts = mode.split(',');
  const cfg: MountConfig = { Type: isAbs(source) ? 'bind' : 'volume', Source: source, Target: target, ReadOnly: opts.includes('ro') };
  if (opts.includes('nocopy')) cfg.VolumeOptions = { NoCopy: true };
  const prop = opts.find((o) => PROPAGATION_MODES.has(o));
  if (prop) cfg.BindOptions = { Propagation: prop };
  try {
    validate(cfg);
  } catch (err) {
    throw invalidParameter(`invalid volume specification: '${raw}': ${messageOf(err)}`);
  }
  return toSpec(cfg, mode);
}

/** One `HostConfig.Mounts` entry (`--mount type=…,source=…,target=…`). */
export function parseMount(raw: unknown): MountSpec {
  const cfg = mountConfig(raw);
  try {
    validate(cfg);
  } catch (err) {
    if (err instanceof MountConfigError) throw invalidParameter(err.message);
    throw err;
  }
  return toSpec(cfg, undefined);
}

function mountConfig(raw: unknown): MountConfig {
  const bad = () => invalidParameter('json: cannot unmarshal into Go struct field HostConfig.Mounts of type mount.Mount');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad();
  const j = raw as Json;
  const str = (k: string) => {
    const v = j[k] ?? '';
    if (typeof v !== 'string') throw bad();
    return v;
  };
  const obj = <T>(k: string): T | undefined => {
    const v = j[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw bad();
    return v as T;
  };
  const ro = j['ReadOnly'] ?? false;
  if (typeof ro !== 'boolean') throw bad();
  return {
    Type: str('Type'),
    Source: str('Source'),
    Target: str('Target'),
    ReadOnly: ro,
    ...optional('BindOptions', obj<MountConfig['BindOptions']>('BindOptions')),
    ...optional('VolumeOptions', obj<MountConfig['VolumeOptions']>('VolumeOptions')),
    ...optional('TmpfsOptions', obj<MountConfig['TmpfsOptions']>('TmpfsOptions')),
    ...optional('ImageOptions', obj<unknown>('ImageOptions')),
    ...optional('ClusterOptions', obj<unknown>('ClusterOptions')),
  };
}

function optional<K extends string, V>(key: K, v: V | undefined): { [k in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [k in K]?: V };
}

/**
 * All of a create request's mounts, in moby's order: binds, then `--mount`s (a destination
 * given twice is refused), then `Config.Volumes` not already covered (anonymous volumes).
 */
export function parseRequestMounts(binds: string[], mounts: unknown[], configVolumes: Record<string, unknown>, volumeDriver: string): MountSpec[] {
  if (volumeDriver && volumeDriver !== 'local') {
    throw notFound(`error looking up volume plugin ${volumeDriver}: plugin "${volumeDriver}" not found`);
  }
  const out: MountSpec[] = [];
  const taken = new Set<string>();
  for (const b of binds) {
    const m = parseBind(b);
    if (taken.has(m.destination)) throw invalidParameter(`Duplicate mount point: ${m.destination}`);
    taken.add(m.destination);
    out.push(m);
  }
  for (const raw of mounts) {
    const m = parseMount(raw);
    if (taken.has(m.destination)) throw invalidParameter(`Duplicate mount point: ${(raw as Json)['Target'] as string}`);
    taken.add(m.destination);
    out.push(m);
  }
  for (const key of Object.keys(configVolumes)) {
    try {
      validate({ Type: 'volume', Source: '', Target: key, ReadOnly: false });
    } catch (err) {
      // dockerd would fail later, at start; a relative path here is `-v a:/x` read as a drive letter.
      throw invalidParameter(`invalid volume specification: '${key}': ${messageOf(err)}`);
    }
    const destination = cleanPath(key);
    if (taken.has(destination)) continue;
    taken.add(destination);
    out.push({ type: 'volume', source: '', destination, readOnly: false, anonymous: true, mode: '' });
  }
  return out;
}
