// The rows of bench/swarm-cluster.mjs and its section of docs/benchmarks.md (between the
// markers below, so that it can be rewritten without touching the rest of the page).
import { markdownTable } from './report.mjs';

export const SWARM_BEGIN = '<!-- swarm-cluster: begin -->';
export const SWARM_END = '<!-- swarm-cluster: end -->';

const ONE = 'Swarm, 3 managers + 2 workers: one manager of three lost';
const LOSS = 'Swarm: quorum lost (two of three managers killed)';
const BACK = 'Swarm: quorum restored (one of them restarted)';
const WORKER = 'Swarm: a worker lost';

/** Each row: the round records' field it takes its samples from. */
export function SWARM_ROWS(o = {}) {
  return [
    { id: 'swarm-one-lost', section: ONE, scenario: 'quorum', key: 'oneLostScaleMs', label: 'manager killed (its daemon and, on berth, its etcd member) → first successful `service scale` (API) on a survivor' },
    { id: 'swarm-quorum-refusal', section: LOSS, scenario: 'quorum', key: 'refusalMs', goal: { atMost: 2000 }, label: 'second manager killed → first answer with "The swarm does not have a leader…" (`GET /services` on the survivor every 50 ms)' },
    { id: 'swarm-first-failure', section: LOSS, scenario: 'quorum', key: 'firstFailureMs', label: '… the first answer that is not a success, whatever its error' },
    { id: 'swarm-refusal-call', section: LOSS, scenario: 'quorum', key: 'refusalCallMs', label: '… that first refused call, request to answer' },
    { id: 'swarm-at-loss-call', section: LOSS, scenario: 'quorum', key: 'atLossCallMs', label: 'the probe sent first, at the kill: request to answer (whatever the answer)' },
    { id: 'swarm-refused-read', section: LOSS, scenario: 'quorum', key: 'refusedReadMs', label: 'a refused `GET /services` once refusing (API)' },
    { id: 'swarm-refused-write', section: LOSS, scenario: 'quorum', key: 'refusedWriteMs', label: 'a refused `service scale` once refusing (API: its read)' },
    { id: 'swarm-refused-cli', section: LOSS, scenario: 'quorum', key: 'refusedCliMs', label: 'a refused `docker service ls` (CLI, its start-up included)' },
    { id: 'swarm-restore', section: BACK, scenario: 'quorum', key: 'restoreScaleMs', label: 'restart command → first successful `service scale` (API) on the survivor' },
    { id: 'swarm-restore-ping', section: BACK, scenario: 'quorum', key: 'restartPingMs', label: 'restart command → the restarted daemon answers `/_ping`' },
    { id: 'swarm-worker-down', section: WORKER, scenario: 'worker', key: 'downMs', label: `worker killed → listed down (\`--dispatcher-heartbeat ${o.heartbeat ?? '1s'}\`)` },
    { id: 'swarm-worker-converge', section: WORKER, scenario: 'worker', key: 'convergedMs', label: `worker killed → all ${o.replicas ?? 4} tasks of a \`node.role==worker\` service running on the other worker` },
  ];
}

const load = (l) => (Array.isArray(l) ? l.map((x) => x.toFixed(2)).join(', ') : '?');
const NAME = { berth: 'berth', docker: 'dockerd' };
const secs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** What the survivor answered between the kill and its first refusal, per engine, from the rounds. */
function quorumTimeline(results) {
  const out = [];
  for (const [engine, r] of Object.entries(results.rounds ?? {})) {
    const qs = (r.quorum ?? []).filter((q) => !q.failed && typeof q.refusalMs === 'number');
    if (!qs.length) continue;
    const lastOk = qs.map((q) => q.lastOkAnswerMs).filter((x) => typeof x === 'number');
    const answers = [...new Set(qs.map((q) => q.atLossAnswer))].join(' / ');
    const errors = [...new Set(qs.flatMap((q) => q.otherErrors ?? []))];
    out.push(
      `- ${NAME[engine] ?? engine}: ${lastOk.length ? `reads on the survivor still succeeded up to ${secs(median(lastOk))} after the kill (median of ${lastOk.length})` : 'no read on the survivor succeeded after the kill'}; ` +
        `the probe sent at the kill was answered (${answers}) after ${secs(median(qs.map((q) => q.atLossCallMs)))}` +
        (errors.length ? `; other answers before the first refusal: ${errors.map((e) => `\`${e.replace(/`/g, "'")}\``).join(', ')}` : '') +
        '.',
    );
  }
  return out;
}

/** The section's Markdown, markers included. */
export function swarmClusterSection(results, source) {
  const o = results.options ?? {};
  const v = results.versions ?? {};
  const loads = (results.loadSamples ?? []).map(([, l]) => l).sort((a, b) => a - b);
  const lines = [SWARM_BEGIN, '## Swarm mode on five nodes: quorum loss, restore, worker loss', ''];
  lines.push(
    `From \`${source}\` (\`node bench/swarm-cluster.mjs\`, ${results.startedAt?.slice(0, 16).replace('T', ' ')} UTC, ${Math.round((results.durationS ?? 0) / 60)} min${results.partial ? ', **stopped before its end**' : ''}): ` +
      `${o.rounds} round${o.rounds === 1 ? '' : 's'} of each scenario per engine, the engines taking turns round by round.`,
  );
  lines.push('');
  lines.push('Each engine runs 3 managers and 2 workers, every node in a network namespace of its own cabled to one');
  lines.push('switch: berth as the test harness makes them (`test/helpers/swarm-cluster.ts`: a berthd per node, an etcd');
  lines.push('member per manager), dockerd as five dockerd 20.10, each with a containerd of its own. Both clusters are up');
  lines.push(`at once; \`docker swarm update --dispatcher-heartbeat ${o.heartbeat}\` on both. "Killed" is SIGKILL to everything of the`);
  lines.push('node\'s engine at the same instant (berthd and its etcd member; dockerd and its containerd), as when the machine');
  lines.push('dies; its task containers stay. Times run from that instant, on the harness\'s clock; the survivor (n1) is asked');
  lines.push('over its API socket, a fresh connection per request. A `service scale` is the CLI\'s pair of calls (read the');
  lines.push('service, post its spec back at its version) on a service of 0 replicas. A round: one manager killed (until');
  lines.push('a scale succeeds on n1), a second one killed (until n1 refuses), the second restarted (until a scale succeeds');
  lines.push(`on n1), the first restarted. The worker rounds kill n4 and n5 in turn, with ${o.replicas} tasks spread over them.`);
  lines.push('');
  lines.push(markdownTable(results));
  lines.push('');
  const timeline = quorumTimeline(results);
  if (timeline.length) lines.push('Between the second kill and the first refusal:', '', ...timeline, '');
  if (loads.length) {
    const med = loads[loads.length >> 1];
    lines.push(`Load average (1 min) sampled every 5 s during the run: ${loads[0].toFixed(2)}–${loads.at(-1).toFixed(2)}, median ${med.toFixed(2)}; (1, 5, 15 min) at the start ${load(results.loadStart)}, at the end ${load(results.loadEnd)}.`);
    lines.push(`berth ${v.berth}${v.berthBuild ? ` (${v.berthBuild})` : ''}, etcd ${v.etcd}; dockerd ${v.dockerd}, containerd ${v.containerd}; runc ${v.runc}; docker CLI ${v.dockerCli}.`);
    lines.push('');
  }
  for (const n of results.notes ?? []) lines.push(`- ${n}`);
  if (results.errors?.length) {
    lines.push('Rounds that failed (their figures are missing from the rows):');
    lines.push('');
    for (const e of results.errors) lines.push(`- ${e.engine ?? ''} \`${e.scenario}\`: ${String(e.error).split('\n')[0]}`);
  }
  if (results.notes?.length || results.errors?.length) lines.push('');
  lines.push(SWARM_END);
  return `${lines.join('\n')}\n`;
}

/** `page` with its swarm section replaced by `section` (or the section appended). */
export function withSwarmSection(page, section) {
  const a = page.indexOf(SWARM_BEGIN);
  const b = page.indexOf(SWARM_END);
  if (a >= 0 && b > a) return page.slice(0, a) + section + page.slice(b + SWARM_END.length).replace(/^\n/, '');
  return `${page.trimEnd()}\n\n${section}`;
}
