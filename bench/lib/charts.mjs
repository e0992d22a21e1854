// The charts of docs/benchmarks.md, as plain SVG text made from a results JSON:
//   restartChart: restart-to-ready against the number of running containers (log scale),
//                 after SIGTERM and after kill -9, --network none and on the default bridge;
//   outageChart:  a client on a published 127.0.0.1 port while the daemon is killed and
//                 restarted: answered and failed requests per 100 ms, the daemon's absences shaded.
// Both return undefined when the results lack the rows they need.

const COLOR = { berth: '#1f6fb4', docker: '#d4631b' };
const NAME = { berth: 'berth', docker: 'dockerd' };
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const r1 = (x) => Math.round(x * 10) / 10;
const fmtMs = (x) => (x >= 1000 ? `${r1(x / 1000)} s` : `${Math.round(x)} ms`);

function text(x, y, s, { size = 12, anchor = 'start', color = '#222', weight = 'normal' } = {}) {
  return `<text x="${r1(x)}" y="${r1(y)}" font-size="${size}" text-anchor="${anchor}" fill="${color}" font-weight="${weight}">${esc(s)}</text>`;
}

function svg(width, height, body, title) {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<title>${esc(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** Points { n, median, min, max } per engine and network, from the restart rows. */
function restartSeries(results, signal) {
  const series = {};
  const add = (engine, netKey, n, s) => {
    if (!s) return;
    ((series[`${engine}|${netKey}`] ??= [])).push({ n, median: s.median, min: s.min, max: s.max });
  };
  const start = results.rows.find((r) => r.id === 'start-empty');
  for (const row of results.rows) {
    const m = new RegExp(`^restart-${signal}-(bridge-)?n(\\d+)$`).exec(row.id);
    if (!m) continue;
    for (const [engine, s] of Object.entries(row.values)) add(engine, m[1] ? 'bridge' : 'none', Number(m[2]), s);
  }
  if (!Object.keys(series).length) return series;
  // With no containers the ready time is the start-up alone: the same point for both networks.
  if (start) {
    for (const [engine, s] of Object.entries(start.values)) for (const netKey of ['none', 'bridge']) if (series[`${engine}|${netKey}`]) add(engine, netKey, 0, s);
  }
  for (const pts of Object.values(series)) pts.sort((a, b) => a.n - b.n);
  return series;
}

export function restartChart(results) {
  const panels = [
    ['SIGTERM', 'after SIGTERM'],
    ['SIGKILL', 'after kill -9'],
  ].map(([sig, title]) => ({ title, series: restartSeries(results, sig) }));
  if (panels.every((p) => !Object.keys(p.series).length)) return undefined;
  const all = panels.flatMap((p) => Object.values(p.series).flat());
  const ns = [...new Set(all.map((p) => p.n))].sort((a, b) => a - b);
  const lo = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...all.map((p) => p.min)))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all.map((p) => p.max))));
  const W = 440;
  const H = 300;
  const m = { l: 58, r: 16, t: 54, b: 46 };
  const width = W * panels.length;
  const height = H + 50;
  const body = [text(width / 2, 18, 'Restart to ready: from launching the daemon until `docker ps -q` lists every running container', { size: 13, anchor: 'middle', weight: 'bold' })];
  panels.forEach((p, k) => {
    const ox = k * W;
    const x = (n) => ox + m.l + ((W - m.l - m.r) * (ns.indexOf(n) + 0.5)) / ns.length;
    const y = (v) => m.t + (H - m.t - m.b) * (1 - (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)));
    body.push(text(ox + m.l + (W - m.l - m.r) / 2, 42, p.title, { size: 12, anchor: 'middle', weight: 'bold' }));
    for (let d = lo; d <= hi; d *= 10) {
      for (const f of [1, 2, 5]) {
        const v = d * f;
        if (v > hi) break;
        body.push(`<line x1="${ox + m.l}" x2="${ox + W - m.r}" y1="${r1(y(v))}" y2="${r1(y(v))}" stroke="${f === 1 ? '#ccc' : '#eee'}"/>`);
        body.push(text(ox + m.l - 6, y(v) + 4, fmtMs(v), { size: 10, anchor: 'end', color: '#555' }));
      }
    }
    for (const n of ns) body.push(text(x(n), H - m.b + 16, String(n), { size: 11, anchor: 'middle' }));
    body.push(text(ox + m.l + (W - m.l - m.r) / 2, H - m.b + 34, 'running containers (0: start-up alone)', { size: 11, anchor: 'middle', color: '#555' }));
    body.push(`<line x1="${ox + m.l}" x2="${ox + m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#888"/>`);
    for (const [key, pts] of Object.entries(p.series)) {
      const [engine, netKey] = key.split('|');
      const c = COLOR[engine] ?? '#444';
      const dash = netKey === 'bridge' ? ' stroke-dasharray="6 4"' : '';
      const shift = netKey === 'bridge' ? 4 : -4; // keep the two networks' whiskers apart
      body.push(`<polyline fill="none" stroke="${c}" stroke-width="2"${dash} points="${pts.map((q) => `${r1(x(q.n) + shift)},${r1(y(q.median))}`).join(' ')}"/>`);
      for (const q of pts) {
        body.push(`<line x1="${r1(x(q.n) + shift)}" x2="${r1(x(q.n) + shift)}" y1="${r1(y(q.min))}" y2="${r1(y(q.max))}" stroke="${c}" stroke-width="1"/>`);
        body.push(`<circle cx="${r1(x(q.n) + shift)}" cy="${r1(y(q.median))}" r="3.5" fill="${netKey === 'bridge' ? '#fff' : c}" stroke="${c}" stroke-width="1.5"/>`);
      }
      const last = pts.at(-1);
      body.push(text(x(last.n) + shift + 8, y(last.median) + (netKey === 'bridge' ? 13 : -3), fmtMs(last.median), { size: 10, color: c }));
    }
  });
  // Legend
  const ly = H + 14;
  let lx = 60;
  for (const engine of ['berth', 'docker']) {
    for (const netKey of ['none', 'bridge']) {
      if (!panels.some((p) => p.series[`${engine}|${netKey}`])) continue;
      const c = COLOR[engine];
      const dash = netKey === 'bridge' ? ' stroke-dasharray="6 4"' : '';
      body.push(`<line x1="${lx}" x2="${lx + 28}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"${dash}/>`);
      body.push(`<circle cx="${lx + 14}" cy="${ly}" r="3.5" fill="${netKey === 'bridge' ? '#fff' : c}" stroke="${c}" stroke-width="1.5"/>`);
      const label = `${NAME[engine]}, ${netKey === 'bridge' ? 'default bridge' : '--network none'}`;
      body.push(text(lx + 34, ly + 4, label, { size: 11 }));
      lx += 44 + label.length * 6.2;
    }
  }
  body.push(text(60, ly + 22, 'median, bar: min–max; log scale. The machine is shared: compare the engines, not the absolute times.', { size: 10, color: '#666' }));
  return svg(width, height, body, 'Restart to ready against the number of running containers');
}

export function outageChart(results) {
  const po = results.details?.portOutage;
  if (!po || !Object.keys(po.variants ?? {}).length) return undefined;
  const strips = [];
  Object.values(po.variants).forEach((v, k) => {
    // berth first in each pair, whichever went first in the run
    const pairs = Object.entries(v.engines).sort(([a], [b]) => (a === 'berth' ? -1 : b === 'berth' ? 1 : 0));
    for (const [engine, x] of pairs) strips.push({ engine, label: v.label, x, run: k + 1 });
  });
  const maxS = Math.max(...strips.map((s) => (s.x.end - s.x.start) / 1000));
  const W = 960;
  const left = 190;
  const right = 16;
  const SH = 58;
  const gap = 22;
  const top = 36;
  const height = top + strips.length * (SH + gap) + 40;
  const xs = (sec) => left + ((W - left - right) * sec) / maxS;
  const perBucket = Math.max(1, Math.round((strips[0].x.bucketMs ?? 100) / (po.intervalMs ?? 5)));
  const body = [text(W / 2, 20, `A GET every ${po.intervalMs} ms to a port published on 127.0.0.1 while the daemon is killed (kill -9) and restarted ${po.cycles} times`, { size: 13, anchor: 'middle', weight: 'bold' })];
  strips.forEach((s, i) => {
    const y0 = top + i * (SH + gap);
    const mid = y0 + SH / 2;
    const half = SH / 2 - 2;
    const c = COLOR[s.engine] ?? '#444';
    body.push(text(8, y0 + 16, NAME[s.engine] ?? s.engine, { size: 13, weight: 'bold', color: c }));
    const sub = s.label.replace(/`/g, '').replace('dockerd with ', '').replace(' (default)', '');
    body.push(text(8, y0 + 31, s.engine === 'berth' ? `run ${s.run}` : `run ${s.run}: ${sub}`, { size: 10, color: '#555' }));
    body.push(text(8, y0 + 46, `${s.x.failed} failed of ${s.x.sent}`, { size: 11, color: s.x.failed ? '#b00' : '#080' }));
    body.push(`<rect x="${left}" y="${y0}" width="${W - left - right}" height="${SH}" fill="#fafafa" stroke="#ddd"/>`);
    for (const d of s.x.downs ?? []) {
      const a = (d.kill - s.x.start) / 1000;
      const b = (d.ready - s.x.start) / 1000;
      body.push(`<rect x="${r1(xs(a))}" y="${y0}" width="${r1(Math.max(1, xs(b) - xs(a)))}" height="${SH}" fill="#bbb" opacity="0.45"/>`);
    }
    body.push(`<line x1="${left}" x2="${W - right}" y1="${mid}" y2="${mid}" stroke="#ccc"/>`);
    // One path per colour (a bar per bucket), not one element per bar: a full run has thousands.
    const bw = Math.max(0.6, ((W - left - right) * (s.x.bucketMs / 1000)) / maxS);
    const up = [];
    const down = [];
    s.x.buckets.forEach(([ok, bad], k) => {
      const bx = r1(xs((k * s.x.bucketMs) / 1000));
      const h = (n) => r1((half * Math.min(n, perBucket)) / perBucket);
      if (ok) up.push(`M${bx} ${mid}h${r1(bw)}v-${h(ok)}h-${r1(bw)}z`);
      if (bad) down.push(`M${bx} ${mid}h${r1(bw)}v${h(bad)}h-${r1(bw)}z`);
    });
    if (up.length) body.push(`<path fill="#3a9a4a" d="${up.join('')}"/>`);
    if (down.length) body.push(`<path fill="#d03030" d="${down.join('')}"/>`);
  });
  const yAxis = top + strips.length * (SH + gap) - gap + 14;
  for (let t = 0; t <= maxS; t += maxS > 60 ? 10 : 5) body.push(text(xs(t), yAxis, `${t} s`, { size: 10, anchor: 'middle', color: '#555' }));
  body.push(text(left, yAxis + 18, 'green up: answered, red down: failed (per 100 ms); grey: from kill -9 until the daemon lists the container again', { size: 10, color: '#555' }));
  return svg(W, height, body, 'Requests to a published port while the daemon restarts');
}

/** One panel of lines over a linear x: { title, xLabel, series: [{ label, color, points: [[x, y]] }] }. */
function linePanel(ox, W, H, p) {
  const m = { l: 58, r: 16, t: 54, b: 46 };
  const pts = p.series.flatMap((s) => s.points);
  if (pts.length === 0) return [];
  const xMax = Math.max(1, ...pts.map(([x]) => x));
  const yMax = Math.max(1, ...pts.map(([, y]) => y)) * 1.1;
  const step = 10 ** Math.floor(Math.log10(yMax));
  const tick = yMax / step > 5 ? step : step / 2;
  const x = (v) => ox + m.l + ((W - m.l - m.r) * v) / xMax;
  const y = (v) => m.t + (H - m.t - m.b) * (1 - v / yMax);
  const body = [text(ox + m.l + (W - m.l - m.r) / 2, 42, p.title, { size: 12, anchor: 'middle', weight: 'bold' })];
  for (let v = 0; v <= yMax; v += tick) {
    body.push(`<line x1="${ox + m.l}" x2="${ox + W - m.r}" y1="${r1(y(v))}" y2="${r1(y(v))}" stroke="#eee"/>`);
    body.push(text(ox + m.l - 6, y(v) + 4, String(r1(v)), { size: 10, anchor: 'end', color: '#555' }));
  }
  for (const f of [0, 0.25, 0.5, 0.75, 1]) body.push(text(x(f * xMax), H - m.b + 16, String(Math.round(f * xMax)), { size: 10, anchor: 'middle' }));
  body.push(text(ox + m.l + (W - m.l - m.r) / 2, H - m.b + 34, p.xLabel, { size: 11, anchor: 'middle', color: '#555' }));
  body.push(`<line x1="${ox + m.l}" x2="${ox + m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#888"/>`);
  p.series.forEach((s, i) => {
    if (s.points.length === 0) return;
    body.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.points.map(([a, b]) => `${r1(x(a))},${r1(y(b))}`).join(' ')}"/>`);
    body.push(`<line x1="${ox + m.l + 10}" x2="${ox + m.l + 30}" y1="${m.t + 8 + i * 14}" y2="${m.t + 8 + i * 14}" stroke="${s.color}" stroke-width="2"/>`);
    body.push(text(ox + m.l + 34, m.t + 12 + i * 14, s.label, { size: 10 }));
  });
  return body;
}

/**
 * soakChart: the soak run (test/harness/soak.ts): the daemon's RSS and heap, and its open
 * descriptors and timers, against the lifecycles done; restart-to-ready with the containers
 * running. Undefined without samples.
 */
export function soakChart(soak) {
  if (!soak?.samples?.length) return undefined;
  const W = 400;
  const H = 300;
  const panels = [
    { title: 'memory (MiB)', xLabel: 'container lifecycles', series: [
      { label: 'RSS', color: COLOR.berth, points: soak.samples.map((s) => [s.lifecycle, s.rssMiB]) },
      { label: 'JS heap used', color: '#7a9cc6', points: soak.samples.map((s) => [s.lifecycle, s.heapMiB]) },
    ] },
    { title: 'open descriptors and timers', xLabel: 'container lifecycles', series: [
      { label: 'descriptors', color: COLOR.berth, points: soak.samples.map((s) => [s.lifecycle, s.fds]) },
      { label: 'timers', color: COLOR.docker, points: soak.samples.map((s) => [s.lifecycle, s.timers]) },
    ] },
  ];
  if (soak.restarts?.length) {
    panels.push({ title: `restart to ready, ${soak.restarts[0].running} running (ms)`, xLabel: 'restarts (odd: SIGTERM, even: kill -9)', series: [
      { label: 'ready', color: COLOR.berth, points: soak.restarts.map((r) => [r.restart, r.readyMs]) },
    ] });
  }
  const width = W * panels.length;
  const body = [text(width / 2, 18, `Soak: ${soak.lifecycles} container lifecycles (create, start, exec, logs, rm), then ${soak.restarts?.length ?? 0} daemon restarts`, { size: 13, anchor: 'middle', weight: 'bold' })];
  panels.forEach((p, k) => body.push(...linePanel(k * W, W, H, p)));
  return svg(width, H + 10, body, 'Soak: memory, descriptors and timers over container lifecycles');
}
