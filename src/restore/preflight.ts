import { join } from 'node:path';
import { RecordStore } from '../state/index.js';
import { migrateRecord, isRunningLike, type ContainerRecord } from '../engine/container.js';
import type { OciRuntime } from '../engine/ports.js';
import { classify, describe, type Classification, type DaemonView } from './classify.js';

export type PreflightLine = { id: string; name: string; status: string; classification: Classification };

/**
 * `berthd --check-restore`: what a daemon with this binary and configuration would do with
 * each container of the data root, without changing anything (records are only read, the
 * machine only looked at). Uses the restore pass's own classification.
 */
export async function preflight(dataRoot: string, runtime: OciRuntime, view: DaemonView): Promise<{ lines: PreflightLine[]; unreadable: string[] }> {
  const store = new RecordStore<ContainerRecord>(join(dataRoot, 'containers'), 'container.json', migrateRecord);
  const { records, failures } = await store.loadAll({ readOnly: true });
  const lines = await Promise.all(
    records.map(async (r) => {
      const probe = isRunningLike(r.state) ? await runtime.probe(r.state.handle) : undefined;
      return { id: r.id, name: r.name, status: r.state.status, classification: classify(r, probe, view) };
    }),
  );
  lines.sort((a, b) => a.name.localeCompare(b.name));
  return { lines, unreadable: failures.map((f) => `${f.id}: ${f.error}`) };
}

export function formatPreflight(p: { lines: PreflightLine[]; unreadable: string[] }, view: DaemonView): string {
  const rows = p.lines.map((l) => [l.id.slice(0, 12), l.name, describe(l.classification)]);
  const header = ['CONTAINER ID', 'NAME', 'WHAT THE NEW DAEMON WOULD DO'];
  const widths = [0, 1].map((i) => Math.max(header[i]?.length ?? 0, ...rows.map((r) => r[i]?.length ?? 0)));
  const fmt = (r: string[]) => `${(r[0] ?? '').padEnd(widths[0] ?? 0)}   ${(r[1] ?? '').padEnd(widths[1] ?? 0)}   ${r[2] ?? ''}`;
  const refused = p.lines.filter((l) => l.classification.kind === 'refuse').length;
  const stopped = p.lines.filter((l) => l.classification.kind === 'stop').length;
  const out = [
    `berth ${view.engineVersion}, live restore ${view.liveRestore ? 'on' : 'off'}: ${p.lines.length} container(s)`,
    fmt(header),
    ...rows.map(fmt),
    ...p.unreadable.map((u) => `unreadable record ${u}`),
    refused > 0
      ? `${refused} running container(s) would not be adopted; stop them first, or after the restart with: berth stop-unadopted`
      : stopped > 0
        ? `${stopped} running container(s) would be stopped (live restore is off)`
        : 'every running container would be adopted',
  ];
  return `${out.join('\n')}\n`;
}
