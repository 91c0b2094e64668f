/**
 * The profile's terminal report: per point a header, the chain totals, a table of ring counters,
 * occupancy over time as sparklines, the latency percentiles and the workers' shares as bars; when
 * sweeping, a last table with the curve. Plain text (Unicode block characters); ANSI colour only
 * when asked (a terminal without NO_COLOR).
 */
import type { PointResult, ProfileResult, RingReport } from '../../record/result.js';
import { findings } from './findings.js';
import { duration, int, pct, ratio, si, us } from './format.js';

export interface TerminalOptions {
  color: boolean;
  /** Terminal width, for the sparklines. */
  columns: number;
}

const SPARKS = '▁▂▃▄▅▆▇█';
const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** Values as a sparkline of at most `width` characters (averaged into buckets), 0..max scaled. */
export function sparkline(values: readonly number[], width: number, max = Math.max(0, ...values)): string {
  if (values.length === 0) return '';
  const cols = Math.max(1, Math.min(width, values.length));
  let s = '';
  for (let c = 0; c < cols; c++) {
    const from = Math.floor((c * values.length) / cols);
    const to = Math.max(from + 1, Math.floor(((c + 1) * values.length) / cols));
    let sum = 0;
    for (let i = from; i < to; i++) sum += values[i]!;
    const v = sum / (to - from);
    s += max <= 0 ? SPARKS[0] : SPARKS[Math.min(7, Math.round((v / max) * 7))];
  }
  return s;
}

/** A horizontal bar of `fraction` (0..1) of `width` cells, in eighths. */
export function bar(fraction: number, width: number): string {
  const f = Math.max(0, Math.min(1, fraction)) * width;
  const full = Math.floor(f);
  return '█'.repeat(full) + (EIGHTHS[Math.floor((f - full) * 8)] ?? '');
}

interface Paint {
  head: (s: string) => string;
  chart: (s: string) => string;
  dim: (s: string) => string;
}

function paint(color: boolean): Paint {
  const wrap = (code: string) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { head: wrap('1'), chart: wrap('36'), dim: wrap('2') };
}

/** Columns: the first (and those in `left`) left-aligned, the rest right-aligned. */
function table(rows: string[][], p: Paint, left: ReadonlySet<number> = new Set(), pad = 2): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((r, ri) => {
    const line = r
      .map((c, i) => {
        const gap = ' '.repeat(Math.max(0, widths[i]! - [...c].length));
        return i === 0 || left.has(i) ? c + gap : gap + c;
      })
      .join(' '.repeat(pad))
      .trimEnd();
    return ri === 0 ? p.head(line) : line;
  });
}

export function mixLabel(mix: Record<string, number>): string {
  const ops = Object.entries(mix).filter(([, w]) => w > 0);
  const same = ops.every(([, w]) => w === ops[0]![1]);
  return ops.map(([op, w]) => (same ? op : `${op}=${w}`)).join(',');
}

export function configLine(p: PointResult): string {
  const c = p.config;
  if (p.runtime !== undefined) {
    const threads = p.producers.map((q) => q.thread ?? `producer ${q.producer}`);
    return [
      `${p.label}: ${p.runtime.attached ? 'attached' : `${c.workers} worker${c.workers === 1 ? '' : 's'}`}`,
      `ring ${c.ring}`,
      `completion ring ${c.completionRing}`,
      `submitting: ${threads.join(', ')}`,
      `every chain timed while recording (latencySample ${p.runtime.latencySampleBefore} otherwise)`,
      `stopped by ${p.runtime.stoppedBy === 'stop' ? 'rec.stop()' : p.runtime.stoppedBy === 'close' ? 'rt.close()' : 'the process exiting'}`,
    ].join(' · ');
  }
  return [
    `${c.producers} producer${c.producers === 1 ? '' : 's'}`,
    `${c.workers} worker${c.workers === 1 ? '' : 's'}`,
    `ring ${c.ring}`,
    `completion ring ${c.completionRing}`,
    `mix ${mixLabel(c.mix)}`,
    `${c.batch} chain${c.batch === 1 ? '' : 's'} per burst`,
    `${c.atoms} atom${c.atoms === 1 ? '' : 's'} per chain`,
  ].join(' · ');
}

function ringRows(rings: RingReport[]): string[][] {
  const rows = [
    ['ring', 'cap', 'push/s', 'pop/s', 'retry/push', 'retry/pop', 'full', 'empty', 'parks P/C', 'wakes P/C', 'overflow'],
  ];
  for (const r of rings) {
    rows.push([
      r.name,
      String(r.capacity),
      si(r.pushesPerSec),
      si(r.popsPerSec),
      ratio(r.retriesPerPush),
      ratio(r.retriesPerPop),
      int(r.fullEvents),
      int(r.emptyEvents),
      `${int(r.producerParks)}/${int(r.consumerParks)}`,
      `${int(r.producerWakes)}/${int(r.consumerWakes)}`,
      r.overflow === undefined ? '-' : int(r.overflow.total),
    ]);
  }
  return rows;
}

export const LATENCY_STAGES = [
  { key: 'submitToStart', label: 'submit → start', where: 'queued in the submission ring' },
  { key: 'startToComplete', label: 'start → complete', where: 'running on a worker' },
  { key: 'completeToReap', label: 'complete → reap', where: 'waiting in a completion queue' },
] as const;

/** One stage's row of the latency table (µs), the same in the terminal and the HTML report. */
export function latencyRow(p: PointResult, st: (typeof LATENCY_STAGES)[number]): string[] {
  const l = p.latency[st.key];
  return [st.label, int(l.count), us(l.mean), us(l.p50), us(l.p90), us(l.p99), us(l.p999), us(l.max), st.where];
}

/** Completions that went through an overflow backlog, over all of a point's completion queues. */
export function overflowTotal(p: PointResult): number {
  return p.rings.completion.reduce((a, q) => a + (q.overflow?.total ?? 0), 0);
}

function point(p: PointResult, o: TerminalOptions, paint_: Paint, showConfig: boolean): string[] {
  const out: string[] = [];
  const sparkWidth = Math.max(16, Math.min(80, o.columns - 44));
  if (showConfig) out.push(configLine(p));
  out.push(
    `chains: ${int(p.chains.submitted)} submitted, ${int(p.chains.completed)} completed, ${int(p.chains.failed)} failed` +
      ` in ${duration(p.elapsedMs)}: ${si(p.chains.perSec)} chains/s, ${si(p.atoms.perSec)} atoms/s`,
  );
  out.push('');
  const rings = [p.rings.submission, p.rings.free, ...p.rings.completion];
  out.push(...table(ringRows(rings), paint_));
  out.push(
    paint_.dim(
      'retry: CAS retries per push/pop · full/empty: times a push found no room / a pop found nothing · P/C: producers/consumers',
    ),
  );
  out.push('');

  const s = p.samples;
  const series: [string, number[]][] = [
    ['submission ring', s.submission],
    ['free ring', s.free],
    ['completion rings', s.completion],
    ['overflow backlog', s.backlog],
    ['parked workers', s.parkedWorkers],
    ['chains/s', s.chainsPerSec],
  ];
  const occRows = [[`over time (${s.t.length} samples, ${s.intervalMs} ms apart)`, 'mean', 'max']];
  const sparks: string[] = [];
  for (const [name, v] of series) {
    const mean = v.length === 0 ? 0 : v.reduce((a, b) => a + b, 0) / v.length;
    const max = v.reduce((a, b) => Math.max(a, b), 0);
    occRows.push([name, si(mean), si(max)]);
    sparks.push(sparkline(v, sparkWidth));
  }
  const occLines = table(occRows, paint_);
  out.push(occLines[0]!);
  for (let i = 1; i < occLines.length; i++) out.push(`${occLines[i]}  ${paint_.chart(sparks[i - 1]!)}`);
  out.push(paint_.dim('parked workers: workers that parked at least once in the interval (from their park counters)'));
  out.push('');

  const latRows = [['latency (µs)', 'count', 'mean', 'p50', 'p90', 'p99', 'p99.9', 'max', 'where']];
  for (const st of LATENCY_STAGES) latRows.push(latencyRow(p, st));
  const latLines = table(latRows, paint_, new Set([8]));
  out.push(...latLines);
  out.push(paint_.dim('from log-bucket histograms in shared memory (each value within 12.5%); every chain timed'));
  out.push('');
  out.push(paint_.head('what the figures say'));
  for (const f of findings(p)) {
    out.push(`${f.high ? '! ' : '  '}${f.figure}: ${f.value} (high above ${f.level})${f.high ? `: ${f.meaning}` : ''}`);
  }
  out.push(paint_.dim('! marks a figure above its level, with what it means and what to try'));
  out.push('');

  const total = p.workers.reduce((a, w) => a + w.chains, 0);
  const wRows = [['worker slot', 'chains', 'share', 'atoms', 'parks', 'spin hits']];
  for (const w of p.workers) {
    wRows.push([String(w.slot), int(w.chains), total > 0 ? pct(w.chains / total) : '-', int(w.atoms), int(w.parks), int(w.spinHits)]);
  }
  const wLines = table(wRows, paint_);
  out.push(wLines[0]!);
  for (let i = 1; i < wLines.length; i++) {
    const w = p.workers[i - 1]!;
    out.push(`${wLines[i]}  ${paint_.chart(bar(total > 0 ? w.chains / total : 0, 20))}`);
  }
  const pRows = [[p.runtime === undefined ? 'producer' : 'thread', 'submitted', 'completed', 'failed', 'bursts', 'queue']];
  for (const q of p.producers) pRows.push([q.thread ?? String(q.producer), int(q.submitted), int(q.completed), int(q.failed), int(q.bursts), String(q.cq)]);
  out.push('');
  out.push(...table(pRows, paint_));
  return out;
}

function sweepTable(r: ProfileResult, paint_: Paint): string[] {
  const param = r.options.sweep!.param;
  const best = Math.max(...r.points.map((p) => p.chains.perSec), 1);
  const rows = [
    [
      param,
      'chains/s',
      'retry/push',
      'retry/pop',
      'overflow',
      'parks',
      's→s p50',
      's→s p99',
      's→c p50',
      's→c p99',
      'c→r p50',
      'c→r p99',
    ],
  ];
  for (const p of r.points) {
    const sq = p.rings.submission;
    rows.push([
      String(p.value),
      si(p.chains.perSec),
      ratio(sq.retriesPerPush),
      ratio(sq.retriesPerPop),
      int(overflowTotal(p)),
      int(sq.consumerParks),
      ...LATENCY_STAGES.flatMap((st) => [us(p.latency[st.key].p50), us(p.latency[st.key].p99)]),
    ]);
  }
  const lines = table(rows, paint_);
  const out = [lines[0]!];
  for (let i = 1; i < lines.length; i++) out.push(`${lines[i]}  ${paint_.chart(bar(r.points[i - 1]!.chains.perSec / best, 20))}`);
  out.push(
    paint_.dim(
      'retry: CAS retries per op on the submission ring · overflow: completions that went through a backlog · parks: worker parks · s→s submit→start, s→c start→complete, c→r complete→reap (µs)',
    ),
  );
  return out;
}

export function machineLine(r: ProfileResult): string {
  const m = r.machine;
  return `machine: ${m.cpuModel}, ${m.cpus} CPU${m.cpus === 1 ? '' : 's'}, ${m.platform} ${m.arch}, Node ${m.node}`;
}

export function renderTerminal(r: ProfileResult, o: TerminalOptions): string {
  const p = paint(o.color);
  const out: string[] = [];
  const sweep = r.options.sweep;
  const recorded = r.tool === 'syslet record';
  if (recorded) {
    out.push(p.head(`syslet record: ${r.program?.command ?? 'this process'}`));
    out.push(`${machineLine(r)}; ${r.points.length} runtime${r.points.length === 1 ? '' : 's'} recorded`);
  } else {
    out.push(p.head(`syslet profile: ${sweep === null ? configLine(r.points[0]!) : `sweep ${sweep.param}=${sweep.values.join(',')}`}`));
    out.push(`${machineLine(r)}; ${duration(r.options.durationMs)} per run`);
  }
  for (const pt of r.points) {
    out.push('');
    if (sweep !== null || recorded) {
      out.push(p.head(`── ${pt.label} ${'─'.repeat(Math.max(4, Math.min(o.columns, 100) - pt.label.length - 4))}`));
    }
    out.push(...point(pt, o, p, sweep !== null || recorded));
  }
  if (sweep !== null) {
    out.push('');
    out.push(p.head(`── sweep: ${sweep.param} ${'─'.repeat(Math.max(4, Math.min(o.columns, 100) - sweep.param.length - 11))}`));
    out.push(...sweepTable(r, p));
  }
  return `${out.join('\n')}\n`;
}
