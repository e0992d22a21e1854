import { RESOURCE_FIELDS, type ResourceUpdate } from '../backend.js';
import { parseRestartPolicy } from './create-request.js';
import { invalidParameter } from '../../lib/errors.js';

type Json = Record<string, unknown>;

/** Fields `docker update` may send that berth does not apply: refused by the flag's name when set. */
const UNSUPPORTED: [key: string, flag: string][] = [
  ['CpuRealtimePeriod', '--cpu-rt-period'],
  ['CpuRealtimeRuntime', '--cpu-rt-runtime'],
  ['BlkioWeightDevice', '--blkio-weight-device'],
  ['BlkioDeviceReadBps', '--device-read-bps'],
  ['BlkioDeviceWriteBps', '--device-write-bps'],
  ['BlkioDeviceReadIOps', '--device-read-iops'],
  ['BlkioDeviceWriteIOps', '--device-write-iops'],
  ['Devices', '--device'],
  ['DeviceCgroupRules', '--device-cgroup-rule'],
  ['DeviceRequests', '--gpus'],
  ['Ulimits', '--ulimit'],
  ['CpuCount', '--cpu-count'],
  ['CpuPercent', '--cpu-percent'],
];

const isEmpty = (v: unknown) => v === undefined || v === null || v === 0 || v === '' || (Array.isArray(v) && v.length === 0);

function int(b: Json, key: string): number {
  const v = b[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw invalidParameter(`json: cannot unmarshal ${typeof v} into Go struct field UpdateConfig.${key} of type int64`);
  }
  return v;
}

function str(b: Json, key: string): string {
  const v = b[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalidParameter(`json: cannot unmarshal ${typeof v} into Go struct field UpdateConfig.${key} of type string`);
  return v;
}

/** `POST /containers/{id}/update`: Docker's UpdateConfig (Resources and RestartPolicy). */
export function parseUpdateBody(body: unknown): ResourceUpdate {
  if (body === undefined) return parseUpdateBody({});
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidParameter('invalid JSON: expected an object');
  const b = body as Json;
  for (const [key, flag] of UNSUPPORTED) {
    if (!isEmpty(b[key])) throw invalidParameter(`${flag} is not supported by this version of berth`);
  }
  const pids = b['PidsLimit'];
  if (pids !== undefined && pids !== null && (typeof pids !== 'number' || !Number.isSafeInteger(pids))) {
    throw invalidParameter('json: cannot unmarshal into Go struct field UpdateConfig.PidsLimit of type int64');
  }
  const blkio = int(b, 'BlkioWeight');
  if (blkio < 0 || blkio > 0xffff) throw invalidParameter('json: cannot unmarshal number into Go struct field UpdateConfig.BlkioWeight of type uint16');
  const out: Record<string, unknown> = {};
  for (const f of RESOURCE_FIELDS) {
    // Absent PidsLimit leaves the limit as it is; 0 or -1 lifts it.
    if (f.key === 'pidsLimit') {
      if (typeof pids === 'number') out[f.key] = pids;
    } else out[f.key] = f.kind === 'string' ? str(b, f.wire) : int(b, f.wire);
  }
  const rp = b['RestartPolicy'];
  const rpName = typeof rp === 'object' && rp !== null ? (rp as Json)['Name'] : undefined;
  // An empty name leaves the policy as it is.
  if (typeof rpName === 'string' && rpName !== '') out['restartPolicy'] = parseRestartPolicy(rp);
  return out as ResourceUpdate;
}
