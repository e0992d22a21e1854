import {
  SECCOMP_ACTIONS,
  SECCOMP_ARCHES,
  SECCOMP_OPERATORS,
  type SeccompAction,
  type SeccompArg,
  type SeccompCondition,
  type SeccompProfile,
  type SeccompProfileRule,
} from '../backend.js';
import { invalidParameter } from '../../lib/errors.js';

/**
 * Docker's seccomp profile format (moby's `profiles/seccomp` JSON: defaultAction,
 * defaultErrnoRet, architectures or archMap, syscalls with names, action, errnoRet, args,
 * includes/excludes) → the engine's SeccompProfile. Decoding follows Go's encoding/json as
 * dockerd does (keys matched case-insensitively, null as absent, unknown keys ignored) and
 * words type errors the same way. Values runc would refuse at start (an unknown action,
 * operator or architecture, seccomp flags) are refused here, at create, so a bad profile
 * never reaches a start.
 */

type Json = Record<string, unknown>;

const PREFIX = 'Decoding seccomp profile failed: ';

const fail = (msg: string): never => {
  throw invalidParameter(PREFIX + msg);
};

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  if (v !== null && typeof v === 'object') return 'object';
  return typeof v;
}

/** Go: `json: cannot unmarshal string into Go struct field Syscall.syscalls.errnoRet of type uint`. */
const typeError = (v: unknown, struct: string, path: string, goType: string): never =>
  fail(`json: cannot unmarshal ${typeof v === 'number' ? `number ${v}` : jsonType(v)} into Go struct field ${struct}.${path} of type ${goType}`);

/** The value of a struct field: Go matches keys case-insensitively; the last match wins. */
function field(o: Json, name: string): unknown {
  let found: unknown;
  for (const k of Object.keys(o)) if (k.toLowerCase() === name.toLowerCase()) found = o[k];
  return found === null ? undefined : found;
}

function str(v: unknown, struct: string, path: string, goType = 'string'): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') return typeError(v, struct, path, goType);
  return v;
}

function uint(v: unknown, struct: string, path: string, goType: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number') return typeError(v, struct, path, goType);
  if (!Number.isInteger(v) || v < 0) return typeError(v, struct, path, goType);
  // JSON numbers are doubles here: a larger one would reach runc rounded.
  if (v > Number.MAX_SAFE_INTEGER) fail(`${path} ${v} is larger than berth can pass on exactly (2^53 - 1)`);
  return v;
}

function list<T>(v: unknown, struct: string, path: string, goType: string, each: (x: unknown) => T): T[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) return typeError(v, struct, path, goType);
  return v.map(each);
}

function obj(v: unknown, struct: string, path: string, goType: string): Json | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) return typeError(v, struct, path, goType);
  return v as Json;
}

function action(v: unknown, struct: string, path: string): SeccompAction | undefined {
  const a = str(v, struct, path, 'specs.LinuxSeccompAction');
  if (a === undefined || a === '') return undefined;
  if (!(SECCOMP_ACTIONS as readonly string[]).includes(a)) fail(`string ${a} is not a valid action for seccomp`);
  return a as SeccompAction;
}

function arch(v: unknown, struct: string, path: string): string {
  const a = str(v, struct, path, 'specs.Arch') ?? '';
  if (!(SECCOMP_ARCHES as readonly string[]).includes(a)) fail(`string ${a} is not a valid arch for seccomp`);
  return a;
}

function condition(v: unknown, path: string): SeccompCondition | undefined {
  const o = obj(v, 'Syscall', path, 'seccomp.Filter');
  if (!o) return undefined;
  const strings = (x: unknown, f: string) => list(x, 'Filter', `${path}.${f}`, '[]string', (s) => str(s, 'Filter', `${path}.${f}`) ?? '');
  const caps = strings(field(o, 'caps'), 'caps');
  const arches = strings(field(o, 'arches'), 'arches');
  const kernel = field(o, 'minKernel');
  let minKernel: string | undefined;
  if (kernel !== undefined) {
    if (typeof kernel !== 'string') fail(`invalid kernel version: ${JSON.stringify(kernel)}, expected "<kernel>.<major>"`);
    const k = kernel as string;
    if (k !== '') {
      const m = /^(\d+)\.(\d+)$/.exec(k);
      if (!m) fail(`invalid kernel version: "${k}", expected "<kernel>.<major>"`);
      if (Number(m?.[1]) === 0 && Number(m?.[2]) === 0) fail(`invalid kernel version: "${k}", expected "<kernel>.<major>": version cannot be 0.0`);
      minKernel = k;
    }
  }
  return { ...(caps ? { caps } : {}), ...(arches ? { arches } : {}), ...(minKernel ? { minKernel } : {}) };
}

function arg(v: unknown): SeccompArg {
  const o = obj(v, 'Syscall', 'syscalls.args', 'specs.LinuxSeccompArg') ?? {};
  const at = (f: string) => `syscalls.args.${f}`;
  const op = str(field(o, 'op'), 'LinuxSeccompArg', at('op'), 'specs.LinuxSeccompOperator') ?? '';
  if (!(SECCOMP_OPERATORS as readonly string[]).includes(op)) fail(`string ${op} is not a valid operator for seccomp`);
  const index = uint(field(o, 'index'), 'LinuxSeccompArg', at('index'), 'uint') ?? 0;
  if (index > 5) fail(`argument index ${index} is out of range: a system call has at most 6 arguments`);
  const valueTwo = uint(field(o, 'valueTwo'), 'LinuxSeccompArg', at('valueTwo'), 'uint64');
  return {
    index,
    value: uint(field(o, 'value'), 'LinuxSeccompArg', at('value'), 'uint64') ?? 0,
    ...(valueTwo !== undefined ? { valueTwo } : {}),
    op: op as SeccompArg['op'],
  };
}

function rule(v: unknown): SeccompProfileRule {
  const o = obj(v, 'Seccomp', 'syscalls', 'seccomp.Syscall') ?? {};
  const S = 'Syscall';
  const name = str(field(o, 'name'), S, 'syscalls.name');
  const names = list(field(o, 'names'), S, 'syscalls.names', '[]string', (x) => str(x, S, 'syscalls.names') ?? '') ?? [];
  if (name && names.length > 0) fail("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'");
  const act = action(field(o, 'action'), S, 'syscalls.action');
  if (act === undefined) fail('string  is not a valid action for seccomp');
  const errnoRet = uint(field(o, 'errnoRet'), S, 'syscalls.errnoRet', 'uint');
  const args = list(field(o, 'args'), S, 'syscalls.args', '[]specs.LinuxSeccompArg', arg);
  const includes = condition(field(o, 'includes'), 'syscalls.includes');
  const excludes = condition(field(o, 'excludes'), 'syscalls.excludes');
  if ([...(name ? [name] : []), ...names].some((n) => n === '')) fail('empty string is not a valid syscall');
  return {
    names: name ? [name] : names,
    action: act as SeccompAction,
    ...(errnoRet !== undefined ? { errnoRet } : {}),
    ...(args && args.length > 0 ? { args } : {}),
    ...(includes ? { includes } : {}),
    ...(excludes ? { excludes } : {}),
  };
}

/** Decodes and checks a profile's JSON text; throws InvalidParameter with Docker's wording. */
export function decodeSeccompProfile(text: string): SeccompProfile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  if (value === null) return { syscalls: [] };
  if (typeof value !== 'object' || Array.isArray(value)) {
    return fail(`json: cannot unmarshal ${jsonType(value)} into Go value of type seccomp.Seccomp`);
  }
  const o = value as Json;
  const T = 'Seccomp';
  const defaultAction = action(field(o, 'defaultAction'), T, 'defaultAction');
  const defaultErrnoRet = uint(field(o, 'defaultErrnoRet'), T, 'defaultErrnoRet', 'uint');
  const architectures = list(field(o, 'architectures'), T, 'architectures', '[]specs.Arch', (x) => arch(x, T, 'architectures'));
  const archMap = list(field(o, 'archMap'), T, 'archMap', '[]seccomp.Architecture', (x) => {
    const a = obj(x, T, 'archMap', 'seccomp.Architecture') ?? {};
    return {
      architecture: arch(field(a, 'architecture'), 'Architecture', 'archMap.architecture'),
      subArchitectures: list(field(a, 'subArchitectures'), 'Architecture', 'archMap.subArchitectures', '[]specs.Arch', (s) => arch(s, 'Architecture', 'archMap.subArchitectures')) ?? [],
    };
  });
  const flags = list(field(o, 'flags'), T, 'flags', '[]specs.LinuxSeccompFlag', (x) => str(x, T, 'flags', 'specs.LinuxSeccompFlag'));
  const listenerPath = str(field(o, 'listenerPath'), T, 'listenerPath');
  const listenerMetadata = str(field(o, 'listenerMetadata'), T, 'listenerMetadata');
  const syscalls = list(field(o, 'syscalls'), T, 'syscalls', '[]*seccomp.Syscall', rule) ?? [];

  if (architectures && architectures.length > 0 && archMap && archMap.length > 0) {
    fail("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  // runc 1.1 refuses any flag (`seccomp flags are not yet supported by runc`).
  if (flags && flags.length > 0) fail('seccomp flags are not yet supported by runc');
  if (defaultAction === undefined && syscalls.length > 0) fail('string  is not a valid action for seccomp');
  if (defaultAction === 'SCMP_ACT_NOTIFY') fail('SCMP_ACT_NOTIFY cannot be used as default action');
  return {
    ...(defaultAction ? { defaultAction } : {}),
    ...(defaultErrnoRet !== undefined ? { defaultErrnoRet } : {}),
    ...(architectures && architectures.length > 0 ? { architectures } : {}),
    ...(archMap && archMap.length > 0 ? { archMap } : {}),
    ...(listenerPath ? { listenerPath } : {}),
    ...(listenerMetadata ? { listenerMetadata } : {}),
    syscalls,
  };
}
