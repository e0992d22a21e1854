// Turn a results JSON into the table: plain text for the terminal, Markdown for docs/benchmarks.md.

function fmt(x, unit) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (unit === 'lines' || unit === 'lines/s' || unit === 'req' || unit === 'req/s') return String(Math.round(x));
  if (unit === 'MiB') return x < 10 ? x.toFixed(2) : x.toFixed(1);
  if (Math.abs(x) >= 100) return String(Math.round(x));
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function cell(s, unit) {
  if (!s) return '—';
  if (s.n === 1) return fmt(s.median, unit);
  return `${fmt(s.median, unit)} (${fmt(s.min, unit)}–${fmt(s.max, unit)})`;
}

function ratio(row) {
  const b = row.values.berth;
  const d = row.values.docker;
  if (row.noRatio || !b || !d || !d.median) return null;
  return b.median / d.median;
}

/** ✅ / ❌ against the project's goal (issue 5), or '' when the row has none. */
function goalCell(row, results) {
  const g = row.goal;
  if (!g) return '';
  const r = ratio(row);
  const parts = [];
  const checks = []; // true / false for each part that can be judged
  if (g.ratioMax !== undefined) {
    parts.push(`≤ ${g.ratioMax}×`);
    if (r !== null) checks.push(r <= g.ratioMax);
  }
  if (g.absMax !== undefined) {
    parts.push(`< ${g.absMax >= 1000 ? `${g.absMax / 1000} s` : `${g.absMax} ms`}`);
    const b = row.values.berth?.median;
    if (b !== undefined) checks.push(b < g.absMax);
  }
  if (g.atMost !== undefined) {
    parts.push(`≤ ${g.atMost >= 1000 ? `${g.atMost / 1000} s` : `${g.atMost} ms`}`);
    const b = row.values.berth?.median;
    if (b !== undefined) checks.push(b <= g.atMost);
  }
  if (g.zero) {
    parts.push('none');
    const b = row.values.berth?.median;
    if (b !== undefined) checks.push(b === 0);
  }
  if (g.floorRow !== undefined) {
    // berth's time against the CLI's own floor for the same answer (the replay row).
    parts.push(`≤ ${g.floorMax}× the CLI floor`);
    const floor = results.rows.find((x) => x.id === g.floorRow)?.values.berth?.median;
    const b = row.values.berth?.median;
    if (floor && b !== undefined) checks.push(b <= g.floorMax * floor);
  }
  if (g.noBlocking) {
    parts.push('never blocks');
    const v = results.details?.logsWhileDown?.berth;
    if (v) checks.push(v.stalledAfterMs === null);
  }
  const mark = checks.length === 0 ? '' : checks.every(Boolean) ? ' ✅' : ' ❌';
  return parts.join(', ') + mark;
}

function sections(results) {
  const out = new Map();
  for (const row of results.rows) {
    if (!out.has(row.section)) out.set(row.section, []);
    out.get(row.section).push(row);
  }
  return out;
}

function tableRows(results) {
  const rows = [];
  for (const [section, list] of sections(results)) {
    rows.push({ section });
    for (const row of list) {
      const r = ratio(row);
      const n = [row.values.berth?.n, row.values.docker?.n].filter(Boolean);
      rows.push({
        metric: row.label,
        unit: row.unit,
        n: n.length ? [...new Set(n)].join('/') : '',
        berth: cell(row.values.berth, row.unit),
        docker: cell(row.values.docker, row.unit),
        ratio: r === null ? '—' : `${r.toFixed(2)}×`,
        goal: goalCell(row, results),
      });
    }
  }
  return rows;
}

const COLS = [
  ['metric', 'Metric'],
  ['unit', 'Unit'],
  ['n', 'N'],
  ['berth', 'berth median (min–max)'],
  ['docker', 'dockerd median (min–max)'],
  ['ratio', 'berth/docker'],
  ['goal', 'Goal'],
];

export function textTable(results) {
  const rows = tableRows(results);
  const plain = (s) => String(s).replace(/`/g, '');
  const width = Object.fromEntries(COLS.map(([k, h]) => [k, Math.max(h.length, ...rows.filter((r) => !r.section).map((r) => plain(r[k]).length))]));
  const line = (r) => COLS.map(([k]) => (k === 'metric' ? plain(r[k]).padEnd(width[k]) : plain(r[k]).padStart(width[k]))).join('  ');
  const out = [line(Object.fromEntries(COLS.map(([k, h]) => [k, h])))];
  out.push(COLS.map(([k]) => '-'.repeat(width[k])).join('  '));
  for (const r of rows) {
    if (r.section) out.push(`== ${r.section}`);
    else out.push(line(r));
  }
  return out.join('\n');
}

export function markdownTable(results) {
  const rows = tableRows(results);
  const out = [`| ${COLS.map(([, h]) => h).join(' | ')} |`, `|${COLS.map(([k]) => (k === 'metric' ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    if (r.section) out.push(`| **${r.section}** |${' |'.repeat(COLS.length - 1)}`);
    else out.push(`| ${COLS.map(([k]) => String(r[k]).replace(/\|/g, '\\|')).join(' | ')} |`);
  }
  return out.join('\n');
}

export function markdownReport(results, { source, charts = {} } = {}) {
  const m = results.machine ?? {};
  const v = results.versions ?? {};
  const o = results.options ?? {};
  const d = results.details ?? {};
  const load = (l) => (Array.isArray(l) ? l.map((x) => x.toFixed(2)).join(', ') : '?');
  const lines = [];
  lines.push('# Benchmarks: berth and dockerd side by side');
  lines.push('');
  lines.push('<!-- Generated by `node bench/render.mjs` from a results file in bench/results/; do not edit by hand. -->');
  lines.push('');
  lines.push(
    `Run of **${results.startedAt?.slice(0, 16).replace('T', ' ')} UTC** on \`${m.host}\`` +
      ` (${results.mode} mode, ${Math.round((results.durationS ?? 0) / 60)} min)` +
      (source ? `, from \`${source}\`` : '') +
      '. How to run it and what each row means: [bench/README.md](../bench/README.md).',
  );
  lines.push('');
  if (results.sources?.length > 1) {
    lines.push('The rows come from these runs, put together by `node bench/render.mjs FILE...` (a later one\'s row replaces an earlier one\'s):');
    lines.push('');
    for (const src of results.sources) {
      lines.push(
        `- \`${src.file}\`: ${src.startedAt?.slice(0, 16).replace('T', ' ')} UTC, ${src.mode}, ${Math.round((src.durationS ?? 0) / 60)} min${src.partial ? ', stopped before its end' : ''}; ` +
          `scenarios ${(src.only ?? []).join(', ')}; load average at start ${load(src.loadStart)}, at the end ${load(src.loadEnd)}`,
      );
    }
    lines.push('');
  }
  lines.push('Both engines ran at the same time on the same machine, driven by the same docker CLI, with');
  lines.push('the same busybox image (`scripts/build-busybox-rootfs.sh`) and live restore on. Containers run');
  lines.push('with `--network none` unless the row or its section names the default bridge or a published port.');
  lines.push('Times are wall-clock milliseconds, median (min–max) over N repetitions; the two engines take');
  lines.push('turns repetition by repetition. The machine is shared and noisy: compare the ratios.');
  lines.push('Rows that go through the docker CLI include its own start-up (the `docker version` row is');
  lines.push('that floor); the API rows, from one persistent HTTP client, show the daemons alone.');
  lines.push('');
  if (results.partial) {
    lines.push(`**This run was stopped before its end**: only the scenarios that finished are here (${Object.keys(d.scenarioSeconds ?? {}).join(', ')}).`);
    lines.push('');
  }
  lines.push(markdownTable(results));
  lines.push('');
  if (charts.restart) {
    lines.push('## Restart to ready against the number of containers');
    lines.push('');
    lines.push(`![restart-to-ready against the number of running containers](${charts.restart})`);
    lines.push('');
  }
  const po = d.portOutage;
  if (po) {
    lines.push('## A published port while the daemon is killed and restarted');
    lines.push('');
    if (charts.outage) {
      lines.push(`![requests to a published port while the daemon restarts](${charts.outage})`);
      lines.push('');
    }
    lines.push(`A client sends a GET every ${po.intervalMs} ms (one at a time, 1 s timeout) to a busybox httpd published on`);
    lines.push(`127.0.0.1 while the daemon is killed with \`kill -9\` and launched again ${po.cycles} times (each time: 200 ms`);
    lines.push(`away, then until \`docker ps -q\` lists the container, then ${po.upMs} ms up). Live restore keeps the container`);
    lines.push('running on both engines; what differs is who forwards the port. dockerd\'s docker-proxy processes end with');
    lines.push('it, so its 127.0.0.1 port refuses until the next dockerd has started new ones; with `userland-proxy: false` the');
    lines.push('kernel forwards it, but a starting dockerd first removes its DOCKER chains and builds them again, so the port');
    lines.push('still refuses for part of each start. berth\'s rules belong to no process, and a restart under running');
    lines.push('containers rewrites none of them.');
    lines.push('');
    lines.push('| set-up | engine | sent | failed | longest without an answer (ms) | restart, median (ms) | errors |');
    lines.push('|---|---|---:|---:|---:|---:|---|');
    for (const v of Object.values(po.variants ?? {})) {
      for (const [engine, x] of Object.entries(v.engines)) {
        const ready = [...x.downs.map((q) => q.ready - q.kill)].sort((a, b) => a - b);
        const med = ready.length ? ready[ready.length >> 1] : NaN;
        const errs = Object.entries(x.errors ?? {}).map(([k, n]) => `${k} ${n}`).join(', ') || '—';
        lines.push(`| ${v.label} | ${engine === 'docker' ? 'dockerd' : engine} | ${x.sent} | ${x.failed} | ${Math.round(x.maxGapMs)} | ${Math.round(med)} | ${errs} |`);
      }
    }
    lines.push('');
  }
  const floors = cliFloors(results);
  if (floors.length) {
    lines.push('How low `docker ps` can go: the same command against each engine\'s answers replayed');
    lines.push('from memory (the "replayed" rows) costs the CLI alone, with no daemon work at all:');
    lines.push('');
    for (const f of floors) {
      lines.push(
        `- with ${f.n} containers, the CLI alone takes ${fmt(f.cli, 'ms')} ms with berth's answer, ` +
          `${f.ratio.toFixed(2)}× dockerd's whole \`docker ps\` (${fmt(f.docker, 'ms')} ms): no daemon can bring \`docker ps\` under that ratio; ` +
          `the daemon's own part is the API \`GET /containers/json\` row.`,
      );
    }
    lines.push('');
  }
  if (results.notes?.length) {
    lines.push('Notes from the run:');
    lines.push('');
    for (const n of results.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  if (results.errors?.length) {
    lines.push('Scenarios that failed (their rows are missing):');
    lines.push('');
    for (const e of results.errors) lines.push(`- \`${e.scenario}\`: ${String(e.error).split('\n')[0]}`);
    lines.push('');
  }
  const down = d.logsWhileDown;
  if (down) {
    lines.push('Logs while the daemon is down, in detail:');
    lines.push('');
    lines.push('| | ' + Object.keys(down).join(' | ') + ' |');
    lines.push('|---|' + Object.keys(down).map(() => '---:').join('|') + '|');
    const keys = ['rateLinesPerS', 'linesDuringOutage', 'linesBeforeKill', 'stalledAfterMs', 'restartReadyMs', 'resumedAfterLaunchMs', 'written', 'linesInLogs', 'missing', 'malformed', 'outOfOrder'];
    const names = {
      rateLinesPerS: 'writer rate before (lines/s)',
      linesDuringOutage: 'lines written during the outage',
      linesBeforeKill: '… of which while SIGSTOPped',
      stalledAfterMs: 'writer blocked after (ms from SIGSTOP)',
      restartReadyMs: 'restart: launch until ready (ms)',
      resumedAfterLaunchMs: 'writer moved again after launch (ms)',
      written: 'lines written in all',
      linesInLogs: 'lines in `docker logs`',
      missing: 'missing',
      malformed: 'malformed',
      outOfOrder: 'out of order',
    };
    for (const k of keys) lines.push(`| ${names[k]} | ${Object.values(down).map((x) => (x[k] === null || x[k] === undefined ? '—' : x[k])).join(' | ')} |`);
    lines.push('');
  }
  lines.push('## Machine');
  lines.push('');
  lines.push(`- ${m.cpus} × ${m.cpuModel}, ${m.memTotalGiB} GiB; ${m.os}; kernel ${m.kernel}; cgroup ${m.cgroup}; node ${m.node}`);
  if (m.spawnMs) lines.push(`- starting a process (median of 10, ms): ${Object.entries(m.spawnMs).map(([k, x]) => `\`${k}\` ${x}`).join(', ')}`);
  lines.push(`- load average (1, 5, 15 min) at start: ${load(results.loadStart)}; at the end of the measurements (the run's own containers included): ${load(results.loadEnd)}`);
  lines.push(`- berth ${v.berth}; dockerd ${v.dockerd}; containerd ${v.containerd}; runc ${v.runc}; conmon ${v.conmon}; docker CLI ${v.dockerCli}`);
  lines.push(
    `- berthd: \`--live-restore --storage-driver ${o.berthStorageDriver ?? 'overlay2'}\`, default log driver${o.berthBip ? `, \`bip\` ${o.berthBip} (its own bridge)` : ''}; dockerd: \`--live-restore --storage-driver overlay2 ${o.dockerBip ? `--bridge <a bridge of the run's own, ${o.dockerBip}>` : '--bip 172.31.250.1/24'}\`` +
      `${o.dockerIptables === false ? ' `--iptables=false`' : ''}, json-file, cgroupfs, its own containerd (\`--containerd\`)` +
      `${o.dockerBip ? ', userland proxy on except in the rows that say `userland-proxy: false`' : ''}`,
  );
  if (o.n) lines.push(`- ${o.n} running containers for the "with N" rows${o.many ? `; ${o.many} for berth${o.dockerMany ? ' and dockerd' : ''} in the large rows` : ''}`);
  const pop = d.populateMs;
  if (pop) lines.push(`- setting up the running containers through the API (4 at a time, not in the table): ${Object.entries(pop).map(([k, x]) => `${k} ${Math.round(x / 100) / 10} s`).join(', ')}`);
  lines.push('');
  return lines.join('\n');
}

/** For each "with N" block that has them: the CLI-alone `docker ps` against dockerd's whole one. */
function cliFloors(results) {
  const out = [];
  for (const row of results.rows) {
    const m = /^ps-replay-(.+)$/.exec(row.id);
    if (!m) continue;
    const ps = results.rows.find((r) => r.id === `ps-${m[1]}`);
    const cli = row.values.berth?.median;
    const docker = ps?.values.docker?.median;
    if (cli === undefined || !docker) continue;
    out.push({ n: /\d+/.exec(row.section)?.[0] ?? m[1], cli, docker, ratio: cli / docker });
  }
  return out;
}
