// The soak section of docs/benchmarks.md, from bench/results/soak.json (test/harness/soak.ts).

const f1 = (x) => (Math.round(x * 10) / 10).toFixed(1);

export function soakSection(soak, source, chart) {
  const lines = ['## Soak: container lifecycles and restarts', ''];
  if (chart) lines.push(`![memory, descriptors and timers over container lifecycles](${chart})`, '');
  const first = soak.samples[0];
  const last = soak.samples.at(-1);
  const from = soak.samples.find((s) => s.lifecycle >= soak.rssFrom) ?? first;
  lines.push(`From \`${source}\` (\`npm run soak\`, started ${soak.startedAt}${soak.done ? '' : ', **stopped before its end**'}). ${soak.lifecycles} lifecycles, four at a time, each`);
  lines.push('`create` (busybox, on the default bridge), `start`, an attached `exec`, `logs` and `rm -f`, all through the API;');
  lines.push(`then ${soak.running ?? soak.restarts?.[0]?.running ?? 0} containers started and the daemon restarted ${soak.restarts?.length ?? 0} times under them (SIGTERM and kill -9 in turn, live restore).`);
  lines.push('Descriptors and timers are sampled while four lifecycles are under way (hence the noise); the bound is on');
  lines.push('where they come back to once the containers are gone. RSS growth is measured from a tenth of the way in');
  lines.push('(lifecycle 1 000 of the full 10 000), once the heap and the JIT have grown to size.');
  if (soak.lifecycles < 10000) lines.push(`This is a shortened run (${soak.lifecycles} lifecycles, ${soak.restarts?.length ?? 0} restarts); the full one is 10 000 lifecycles and 100 restarts with 200 running.`);
  lines.push('');
  lines.push('| measure | value | bound |');
  lines.push('|---|---|---|');
  lines.push(`| lifecycles failed | ${soak.failedLifecycles.length} | 0 |`);
  lines.push(`| open descriptors: baseline → after the lifecycles | ${soak.baseline.fds} → ${soak.afterLifecycles.fds} | ± 5 |`);
  lines.push(`| timers: baseline → after the lifecycles | ${soak.baseline.timers} → ${soak.afterLifecycles.timers} | ± 5 |`);
  lines.push(`| RSS at lifecycle ${from.lifecycle} → ${last.lifecycle} | ${f1(from.rssMiB)} → ${f1(last.rssMiB)} MiB (${soak.rssGrowthMiB >= 0 ? '+' : ''}${f1(soak.rssGrowthMiB)}) | + 20 MiB |`);
  if (soak.restarts?.length) {
    const ready = soak.restarts.map((r) => r.readyMs).sort((a, b) => a - b);
    lines.push(`| restart to ready with ${soak.restarts[0].running} running: median (max) | ${ready[Math.floor(ready.length / 2)]} ms (${ready.at(-1)} ms) | |`);
    lines.push(`| containers not running after a restart | ${soak.lostAcrossRestarts.length} | 0 |`);
  }
  lines.push(`| left behind (monitors, mounts, cgroups, veths, addresses, exec-root files) | ${soak.leaks.length === 0 ? 'nothing' : soak.leaks.slice(0, 5).join('; ')} | nothing |`);
  lines.push('');
  return `${lines.join('\n')}\n`;
}
