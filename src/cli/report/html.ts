/**
 * The profile as one self-contained HTML page: inline CSS and inline SVG plots, no scripts and no
 * network. When sweeping: throughput, latency and CAS retries against the swept parameter, then
 * each run. Per run: ring depth, free slots, throughput and parked workers over time, latency
 * percentiles per stage, chains per worker, and the ring counters as two tables.
 */
import type { PointResult, ProfileResult, RingReport } from '../../index.js';
import { findings } from './findings.js';
import { duration, int, pct, ratio, si, us } from './format.js';
import { barChart, esc, lineChart } from './svg.js';
import { configLine, LATENCY_STAGES, latencyRow, machineLine, overflowTotal } from './terminal.js';

const CSS = `
:root { color-scheme: light; --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #ffffff; --card: #f9fafb; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-top: 12px; border-top: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
p.meta, .note { color: var(--muted); margin: 2px 0; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 130px; }
.card b { display: block; font-size: 18px; }
.card span { color: var(--muted); font-size: 12px; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; }
figure { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
figcaption { color: var(--muted); font-size: 12px; padding: 2px 6px 4px; }
svg.plot { display: block; max-width: 100%; height: auto; }
svg.plot text { font: 11px system-ui, sans-serif; fill: var(--fg); }
svg.plot text.title { font-size: 13px; font-weight: 600; }
svg.plot text.tick { fill: var(--muted); }
svg.plot .grid { stroke: var(--line); stroke-width: 1; }
svg.plot .axis, svg.plot .tickmark { stroke: #9ca3af; stroke-width: 1; }
svg.plot .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg.plot .area { opacity: 0.12; stroke: none; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; }
h4 { font-size: 13px; margin: 12px 0 2px; color: var(--muted); }
th:first-child, td:first-child { text-align: left; }
th { font-weight: 600; background: var(--card); }
details { margin: 8px 0; }
.scroll { overflow-x: auto; }
code { font-size: 12px; }
ul.findings { padding-left: 18px; }
ul.findings li { margin: 3px 0; color: var(--muted); }
ul.findings li.high { color: #b91c1c; }
`;

function tableHtml(head: string[], rows: string[][]): string {
  return [
    '<div class="scroll"><table>',
    `<thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    ...rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`),
    '</tbody></table></div>',
  ].join('\n');
}

function figure(svg: string, caption: string): string {
  return `<figure>${svg}<figcaption>${esc(caption)}</figcaption></figure>`;
}

function card(value: string, label: string): string {
  return `<div class="card"><b>${esc(value)}</b><span>${esc(label)}</span></div>`;
}

/**
 * The ring counters as two tables of eight columns each (traffic, then waiting), so both fit the
 * page's width: one table of fifteen hid its right-hand columns behind a scrollbar.
 */
function ringTables(rings: RingReport[]): string {
  const traffic = tableHtml(
    ['ring', 'capacity', 'pushes', 'push/s', 'pops', 'pop/s', 'CAS retries per push', 'CAS retries per pop'],
    rings.map((r) => [r.name, String(r.capacity), int(r.pushes), si(r.pushesPerSec), int(r.pops), si(r.popsPerSec), ratio(r.retriesPerPush), ratio(r.retriesPerPop)]),
  );
  const waiting = tableHtml(
    ['ring', 'full', 'empty', 'parks (producers / consumers)', 'wake-ups (producers / consumers)', 'occupancy mean', 'occupancy max', 'overflow'],
    rings.map((r) => [
      r.name,
      int(r.fullEvents),
      int(r.emptyEvents),
      `${int(r.producerParks)} / ${int(r.consumerParks)}`,
      `${int(r.producerWakes)} / ${int(r.consumerWakes)}`,
      si(r.occupancy.mean),
      int(r.occupancy.max),
      r.overflow === undefined ? '-' : `${int(r.overflow.total)} (peak ${int(r.overflow.peak)})`,
    ]),
  );
  return `<h4>Traffic</h4>\n${traffic}\n<h4>Waiting and occupancy</h4>\n${waiting}`;
}

function pointSection(p: PointResult, idx: string, sweep: boolean): string {
  const s = p.samples;
  const t = (k: number): number => s.t[k]! / 1000;
  const over = (v: number[]): [number, number][] => v.map((y, k) => [t(k), y]);
  // Time axes end at the run's length.
  const runSeconds = p.elapsedMs / 1000;
  const out: string[] = [];
  out.push(`<section class="point" id="point-${idx}">`);
  out.push(sweep || p.runtime !== undefined ? `<h2>${esc(p.label)}</h2>` : '<h2>Run</h2>');
  out.push(`<p class="meta">${esc(configLine(p))}</p>`);
  const L = p.latency;
  out.push(
    '<div class="cards">' +
      [
        card(si(p.chains.perSec), 'chains/s'),
        card(si(p.atoms.perSec), 'atoms/s'),
        card(int(p.chains.completed), `chains completed in ${duration(p.elapsedMs)}`),
        card(int(p.chains.failed), 'failed'),
        card(`${us(L.submitToStart.p50)} / ${us(L.submitToStart.p99)} µs`, 'submit → start p50 / p99'),
        card(`${us(L.completeToReap.p50)} / ${us(L.completeToReap.p99)} µs`, 'complete → reap p50 / p99'),
        card(ratio(p.rings.submission.retriesPerPush), 'CAS retries per push (submission)'),
      ].join('') +
      '</div>',
  );
  const plots: string[] = [];
  plots.push(
    figure(
      lineChart({
        id: `occupancy-${idx}`,
        title: 'Submission ring depth over time',
        xLabel: 'seconds',
        yLabel: 'chains waiting',
        step: true,
        xMax: runSeconds,
        integerY: true,
        series: [{ name: 'submission ring', points: over(s.submission), area: true, markers: false }],
      }),
      `Chains waiting in the submission ring for a worker, at each sample (every ${s.intervalMs} ms).`,
    ),
  );
  // A chart of its own: drawn over the submission ring's, the two lines merged into one band.
  plots.push(
    figure(
      lineChart({
        id: `completion-${idx}`,
        title: 'Completion ring depth over time',
        xLabel: 'seconds',
        yLabel: 'completions waiting',
        step: true,
        xMax: runSeconds,
        integerY: true,
        series: [
          { name: 'completion rings', points: over(s.completion), color: '#dc2626', area: true, markers: false },
          { name: 'overflow backlog', points: over(s.backlog), color: '#9333ea', markers: false, dashed: true },
        ],
      }),
      `Completions waiting to be reaped, all completion rings together, at each sample. A full completion ring overflows into its backlog (dashed).`,
    ),
  );
  plots.push(
    figure(
      lineChart({
        id: `free-${idx}`,
        title: 'Free request slots over time',
        xLabel: 'seconds',
        yLabel: 'slots in the free ring',
        step: true,
        xMax: runSeconds,
        yMax: p.config.ring,
        integerY: true,
        series: [{ name: 'free ring', points: over(s.free), area: true, markers: false }],
      }),
      `Slots in the free ring (capacity ${p.config.ring}); each thread also keeps up to 64 freed slots of its own.`,
    ),
  );
  plots.push(
    figure(
      lineChart({
        id: `throughput-${idx}`,
        title: 'Throughput over time',
        xLabel: 'seconds',
        yLabel: 'chains/s',
        xMax: runSeconds,
        series: [{ name: 'chains finished by the workers', points: over(s.chainsPerSec), area: true, markers: false }],
      }),
      'Chains the workers finished per second, per sampling interval.',
    ),
  );
  plots.push(
    figure(
      lineChart({
        id: `parked-${idx}`,
        title: 'Parked workers over time',
        xLabel: 'seconds',
        yLabel: 'workers',
        step: true,
        xMax: runSeconds,
        yMax: p.config.workers,
        integerY: true,
        series: [{ name: 'workers that parked', points: over(s.parkedWorkers), area: true, markers: false }],
      }),
      `Workers (of ${p.config.workers}) whose park counter rose during each interval: they slept on the submission ring at least once. ${int(p.rings.submission.consumerParks)} parks in all.`,
    ),
  );
  if (s.poolSize !== undefined) {
    const changes = p.pool?.changes ?? [];
    plots.push(
      figure(
        lineChart({
          id: `pool-${idx}`,
          title: 'Pool size over time',
          xLabel: 'seconds',
          yLabel: 'workers',
          step: true,
          xMax: runSeconds,
          integerY: true,
          ...(p.pool === undefined ? {} : { yMax: p.pool.max }),
          series: [
            { name: 'workers taking work', points: over(s.poolSize), area: true, markers: false },
            // Each change where it happened (hover: what it was), between the samples.
            ...(changes.length === 0
              ? []
              : [{ name: 'pool changes', points: changes.map((c): [number, number] => [c.t / 1000, c.size]), color: '#ea580c', markers: true, dashed: true }]),
          ],
        }),
        p.pool === undefined
          ? 'Workers taking work at each sample (the base pool and extras; spares in reserve not counted).'
          : `Workers taking work at each sample: the base pool (${p.pool.base}) and the extras that joined because every worker was blocked, up to ${p.pool.max}. The pool grew ${int(p.pool.grew)} times and ${int(p.pool.retired)} extras retired while recording; why is listed below.`,
      ),
    );
  }
  plots.push(
    figure(
      barChart({
        id: `latency-${idx}`,
        title: 'Latency percentiles (µs, log scale)',
        yLabel: 'µs',
        logY: true,
        fmtY: (v) => (v >= 1 ? si(v) : String(+v.toPrecision(2))),
        groups: LATENCY_STAGES.map((st) => {
          const l = L[st.key];
          return {
            label: st.label,
            values: [
              { name: 'p50', value: l.p50 / 1000 },
              { name: 'p90', value: l.p90 / 1000 },
              { name: 'p99', value: l.p99 / 1000 },
              { name: 'p99.9', value: l.p999 / 1000 },
              { name: 'max', value: l.max / 1000 },
            ],
          };
        }),
      }),
      'From the runtime’s log-bucket histograms in shared memory (each value within 12.5%); every chain is timed.',
    ),
  );
  const total = p.workers.reduce((a, w) => a + w.chains, 0);
  plots.push(
    figure(
      barChart({
        id: `workers-${idx}`,
        title: 'Chains per worker',
        yLabel: 'chains',
        integerY: true,
        groups: p.workers.map((w) => ({
          label: `slot ${w.slot}`,
          values: [{ name: 'chains', value: w.chains }],
        })),
      }),
      `How the ${int(total)} chains spread over the worker slots.`,
    ),
  );
  out.push(`<div class="plots">${plots.join('\n')}</div>`);
  out.push('<h3>What the figures say</h3>');
  out.push(
    `<ul class="findings">${findings(p)
      .map((f) => `<li${f.high ? ' class="high"' : ''}><b>${esc(f.figure)}: ${esc(f.value)}</b> (high above ${esc(f.level)})${f.high ? ' ⚠' : ''}: ${esc(f.meaning)}</li>`)
      .join('')}</ul>`,
  );
  if (p.pool !== undefined && p.pool.changes.length > 0) {
    out.push('<h3>Pool changes</h3>');
    out.push(
      tableHtml(
        ['at', 'change', 'workers after', 'why'],
        p.pool.changes.map((c) => [`${(c.t / 1000).toFixed(3)} s`, c.change, String(c.size), c.reason]),
      ),
    );
  }
  out.push('<h3>Rings</h3>');
  out.push(ringTables([p.rings.submission, p.rings.free, ...p.rings.completion]));
  out.push(
    '<p class="note">CAS retries: a compare-and-swap on the ring position lost to another thread. Full / empty: a push found no room / a pop found nothing. Parks: a thread went to sleep on the ring (producers when full, consumers when empty); wake-ups: notifications issued to sleepers.</p>',
  );
  out.push('<h3>Latency (µs)</h3>');
  out.push(
    tableHtml(
      ['stage', 'count', 'mean', 'p50', 'p90', 'p99', 'p99.9', 'max', 'where'],
      LATENCY_STAGES.map((st) => latencyRow(p, st)),
    ),
  );
  out.push('<h3>Workers and producers</h3>');
  out.push(
    tableHtml(
      ['worker slot', 'thread', 'chains', 'share', 'atoms', 'parks', 'spin hits'],
      p.workers.map((w) => [String(w.slot), String(w.threadId), int(w.chains), total > 0 ? pct(w.chains / total) : '-', int(w.atoms), int(w.parks), int(w.spinHits)]),
    ),
  );
  out.push(
    tableHtml(
      [p.runtime === undefined ? 'producer' : 'thread', 'completion queue', 'submitted', 'completed', 'errors', 'bursts'],
      p.producers.map((q) => [q.thread ?? String(q.producer), String(q.cq), int(q.submitted), int(q.completed), int(q.failed), int(q.bursts)]),
    ),
  );
  out.push('</section>');
  return out.join('\n');
}

function sweepSection(r: ProfileResult): string {
  const sw = r.options.sweep!;
  const cats = r.points.map((p) => String(p.value));
  const at = (f: (p: PointResult) => number): [number, number][] => r.points.map((p, i) => [i, f(p)]);
  const plots: string[] = [];
  plots.push(
    figure(
      lineChart({
        id: 'sweep-throughput',
        title: `Throughput against ${sw.param}`,
        xLabel: sw.param,
        yLabel: 'chains/s',
        categories: cats,
        series: [
          { name: 'chains/s', points: at((p) => p.chains.perSec) },
          // Atoms per chain > 1: atoms/s is a different curve.
          ...(r.points.some((p) => p.config.atoms > 1)
            ? [{ name: 'atoms/s', points: at((p) => p.atoms.perSec), dashed: true }]
            : []),
        ],
      }),
      'Chains completed per second over each whole run.',
    ),
  );
  const latSeries = LATENCY_STAGES.flatMap((st, k) => [
    { name: `${st.label} p50`, points: at((p) => p.latency[st.key].p50 / 1000), color: STAGE_COLORS[k]! },
    {
      name: `${st.label} p99`,
      points: at((p) => p.latency[st.key].p99 / 1000),
      color: STAGE_COLORS[k]!,
      dashed: true,
      legend: false,
    },
  ]);
  plots.push(
    figure(
      lineChart({
        id: 'sweep-latency',
        title: `Latency against ${sw.param} (µs, log scale)`,
        xLabel: sw.param,
        yLabel: 'µs',
        categories: cats,
        logY: true,
        series: latSeries,
        height: 280,
      }),
      'p50 (solid lines) and p99 (dashed lines) of each stage.',
    ),
  );
  plots.push(
    figure(
      lineChart({
        id: 'sweep-retries',
        title: `CAS retries per operation against ${sw.param}`,
        xLabel: sw.param,
        yLabel: 'retries per op',
        categories: cats,
        series: [
          { name: 'submission push', points: at((p) => p.rings.submission.retriesPerPush) },
          { name: 'submission pop', points: at((p) => p.rings.submission.retriesPerPop) },
          { name: 'free pop', points: at((p) => p.rings.free.retriesPerPop) },
          {
            name: 'completion push',
            points: at((p) => {
              const c = p.rings.completion;
              const pushes = c.reduce((a, q) => a + q.pushes, 0);
              return pushes > 0 ? c.reduce((a, q) => a + q.pushRetries, 0) / pushes : 0;
            }),
          },
        ],
      }),
      'Lost compare-and-swaps per successful operation: how hard threads fight over each ring position.',
    ),
  );
  plots.push(
    figure(
      lineChart({
        id: 'sweep-waits',
        title: `Waiting against ${sw.param}`,
        xLabel: sw.param,
        yLabel: 'per 1,000 chains',
        categories: cats,
        series: [
          { name: 'worker parks', points: at((p) => per1k(p.rings.submission.consumerParks, p)) },
          { name: 'worker wake-ups', points: at((p) => per1k(p.rings.submission.consumerWakes, p)) },
          { name: 'submission ring empty', points: at((p) => per1k(p.rings.submission.emptyEvents, p)) },
          { name: 'completion overflow', points: at((p) => per1k(overflowTotal(p), p)) },
        ],
      }),
      'Per 1,000 chains: workers parking on the submission ring and the wake-ups issued to them, workers finding the submission ring empty, and completions that went through an overflow backlog.',
    ),
  );
  const rows = r.points.map((p) => [
    String(p.value),
    si(p.chains.perSec),
    ratio(p.rings.submission.retriesPerPush),
    ratio(p.rings.submission.retriesPerPop),
    int(p.rings.submission.consumerParks),
    ...LATENCY_STAGES.flatMap((st) => [us(p.latency[st.key].p50), us(p.latency[st.key].p99)]),
  ]);
  return [
    `<section id="sweep"><h2>Sweep: ${esc(sw.param)} = ${esc(sw.values.join(', '))}</h2>`,
    `<div class="plots">${plots.join('\n')}</div>`,
    tableHtml(
      [sw.param, 'chains/s', 'retry/push', 'retry/pop', 'worker parks', 's→s p50', 's→s p99', 's→c p50', 's→c p99', 'c→r p50', 'c→r p99'],
      rows,
    ),
    '<p class="note">Latency in µs: s→s submit → start, s→c start → complete, c→r complete → reap.</p>',
    '</section>',
  ].join('\n');
}

const STAGE_COLORS = ['#2563eb', '#16a34a', '#dc2626'];

function per1k(n: number, p: PointResult): number {
  return p.chains.completed > 0 ? (n * 1000) / p.chains.completed : 0;
}

export function renderHtml(r: ProfileResult): string {
  const sweep = r.options.sweep;
  const recorded = r.tool === 'syslet record';
  const title = recorded ? `syslet record: ${r.program?.command ?? 'this process'}` : sweep === null ? 'syslet profile' : `syslet profile: sweep ${sweep.param}`;
  const body: string[] = [];
  body.push(`<h1>${esc(title)}</h1>`);
  if (r.program !== undefined) body.push(`<p class="meta">program: <code>${esc(r.program.command)}</code> · pid ${r.program.pid} · in ${esc(r.program.cwd)}</p>`);
  body.push(`<p class="meta">${esc(machineLine(r))}</p>`);
  body.push(
    `<p class="meta">${esc(recorded ? `${r.points.length} runtime${r.points.length === 1 ? '' : 's'} recorded · generated ${r.generated}` : `${duration(r.options.durationMs)} per run · generated ${r.generated}`)}</p>`,
  );
  if (sweep !== null) body.push(sweepSection(r));
  r.points.forEach((p, i) => body.push(pointSection(p, String(i), sweep !== null)));
  body.push(
    `<details><summary>Raw figures (JSON)</summary><pre><code>${esc(JSON.stringify({ ...r, points: r.points.map((p) => ({ ...p, samples: undefined })) }, null, 1))}</code></pre></details>`,
  );
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // No network: nothing on this page may load anything.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

