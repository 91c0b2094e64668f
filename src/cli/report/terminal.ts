/**
 * The profile's terminal report: per point a header, the chain totals, a table of ring counters,
 * occupancy over time as sparklines, the latency percentiles and the workers' shares as bars; when
 * sweeping, a last table with the curve. Plain text (Unicode block characters); ANSI colour only
 * when asked (a terminal without NO_COLOR).
 */
import type { PointResult, PoolReport, ProfileResult, RingReport } from '../../index.js';
import { findings } from './findings.js';
import { duration, int, pct, ratio, si, us } from './format.js';

export interface TerminalOptions {
  color: boolean;
  /** Terminal width: tables split, notes wrap and sparklines shrink to fit it (Infinity: no limit). */
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

/** How many pool changes the terminal lists (the first ones; the JSON has them all). */
const POOL_CHANGES_SHOWN = 12;

/** The pool's changes during a recording, with why each happened. */
function poolLines(pool: PoolReport, p: Paint, cols: number): string[] {
  const out = [
    p.head(`pool: base ${pool.base}, bound ${pool.max}; grew ${int(pool.grew)}, extras retired ${int(pool.retired)}, refused at the bound ${int(pool.atBound)}`),
  ];
  for (const c of pool.changes.slice(0, POOL_CHANGES_SHOWN)) {
    out.push(...wrapText(`  at ${(c.t / 1000).toFixed(3)} s  ${c.change} → ${c.size} workers: ${c.reason}`, cols));
  }
  if (pool.changes.length > POOL_CHANGES_SHOWN) out.push(p.dim(`  ... ${pool.changes.length - POOL_CHANGES_SHOWN} more (--json has them)`));
  if (pool.changes.length === 0) out.push(p.dim('  no change while recording'));
  return out;
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

/**
 * A table no wider than `columns`: when it would be, its columns go into several tables one under
 * the other, each repeating the first column (a terminal wraps a long line into an unreadable one).
 */
function fitTable(rows: string[][], p: Paint, columns: number, left: ReadonlySet<number> = new Set(), pad = 2): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  const total = widths.reduce((a, w) => a + w, 0) + pad * (widths.length - 1);
  if (total <= columns || widths.length <= 2) return table(rows, p, left, pad);
  const groups: number[][] = [];
  let group: number[] = [];
  let width = widths[0]!;
  for (let i = 1; i < widths.length; i++) {
    if (group.length > 0 && width + pad + widths[i]! > columns) {
      groups.push(group);
      group = [];
      width = widths[0]!;
    }
    group.push(i);
    width += pad + widths[i]!;
  }
  groups.push(group);
  return groups.flatMap((g, gi) => {
    const keep = [0, ...g];
    const part = table(
      rows.map((r) => keep.map((i) => r[i] ?? '')),
      p,
      new Set(keep.flatMap((i, k) => (left.has(i) ? [k] : []))),
      pad,
    );
    return gi === 0 ? part : ['', ...part];
  });
}

/** `text` in lines of at most `columns`, broken after `sep`; later lines indented by two spaces. */
export function wrapText(text: string, columns: number, sep = ' '): string[] {
  const parts = text.split(sep);
  const lines: string[] = [];
  let line = '';
  for (const [i, part] of parts.entries()) {
    const piece = i < parts.length - 1 ? part + sep : part;
    if (line.trim() !== '' && [...line].length + [...piece.trimEnd()].length > columns) {
      lines.push(line.trimEnd());
      line = '  ';
    }
    line += piece;
  }
  if (line.trim() !== '') lines.push(line.trimEnd());
  return lines;
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
  const cols = o.columns;
  const note = (text: string): void => {
    for (const l of wrapText(text, cols)) out.push(paint_.dim(l));
  };
  if (showConfig) out.push(...wrapText(configLine(p), cols, ' · '));
  out.push(
    ...wrapText(
      `chains: ${int(p.chains.submitted)} submitted, ${int(p.chains.completed)} completed, ${int(p.chains.failed)} errors` +
        ` in ${duration(p.elapsedMs)}: ${si(p.chains.perSec)} chains/s, ${si(p.atoms.perSec)} atoms/s`,
      cols,
    ),
  );
  out.push('');
  const rings = [p.rings.submission, p.rings.free, ...p.rings.completion];
  out.push(...fitTable(ringRows(rings), paint_, cols));
  note('retry: CAS retries per push/pop · full/empty: times a push found no room / a pop found nothing · P/C: producers/consumers');
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
  if (s.poolSize !== undefined) series.push(['pool size (workers)', s.poolSize]);
  const occRows = [[`over time (${s.t.length} samples, ${s.intervalMs} ms apart)`, 'mean', 'max']];
  for (const [name, v] of series) {
    const mean = v.length === 0 ? 0 : v.reduce((a, b) => a + b, 0) / v.length;
    const max = v.reduce((a, b) => Math.max(a, b), 0);
    occRows.push([name, si(mean), si(max)]);
  }
  const occLines = table(occRows, paint_);
  // The sparklines take what the table leaves of the line.
  const occWidth = Math.max(...occLines.slice(1).map((l) => [...l].length));
  const sparkWidth = Math.min(80, cols - occWidth - 2);
  const sparks = sparkWidth >= 8 ? series.map(([, v]) => sparkline(v, sparkWidth)) : [];
  out.push(occLines[0]!);
  for (let i = 1; i < occLines.length; i++) out.push(sparks.length > 0 ? `${occLines[i]}  ${paint_.chart(sparks[i - 1]!)}` : occLines[i]!);
  note('parked workers: workers that parked at least once in the interval (from their park counters)');
  if (s.poolSize !== undefined) note('pool size: workers taking work (the base pool and extras; spares in reserve not counted)');
  out.push('');
  if (p.pool !== undefined) out.push(...poolLines(p.pool, paint_, cols), '');

  const latRows = [['latency (µs)', 'count', 'mean', 'p50', 'p90', 'p99', 'p99.9', 'max', 'where']];
  for (const st of LATENCY_STAGES) latRows.push(latencyRow(p, st));
  out.push(...fitTable(latRows, paint_, cols, new Set([8])));
  note('from log-bucket histograms in shared memory (each value within 12.5%); every chain timed');
  out.push('');
  out.push(paint_.head('what the figures say'));
  for (const f of findings(p)) {
    out.push(...wrapText(`${f.high ? '! ' : '  '}${f.figure}: ${f.value} (high above ${f.level})${f.high ? `: ${f.meaning}` : ''}`, cols));
  }
  note('! marks a figure above its level, with what it means and what to try');
  out.push('');

  const total = p.workers.reduce((a, w) => a + w.chains, 0);
  const wRows = [['worker slot', 'chains', 'share', 'atoms', 'parks', 'spin hits']];
  for (const w of p.workers) {
    wRows.push([String(w.slot), int(w.chains), total > 0 ? pct(w.chains / total) : '-', int(w.atoms), int(w.parks), int(w.spinHits)]);
  }
  const wLines = table(wRows, paint_);
  const wBar = Math.min(20, cols - Math.max(...wLines.slice(1).map((l) => [...l].length)) - 2);
  out.push(wLines[0]!);
  for (let i = 1; i < wLines.length; i++) {
    const w = p.workers[i - 1]!;
    out.push(wBar >= 4 ? `${wLines[i]}  ${paint_.chart(bar(total > 0 ? w.chains / total : 0, wBar))}` : wLines[i]!);
  }
  const pRows = [[p.runtime === undefined ? 'producer' : 'thread', 'submitted', 'completed', 'errors', 'bursts', 'queue']];
  for (const q of p.producers) pRows.push([q.thread ?? String(q.producer), int(q.submitted), int(q.completed), int(q.failed), int(q.bursts), String(q.cq)]);
  out.push('');
  out.push(...fitTable(pRows, paint_, cols));
  return out;
}

function sweepTable(r: ProfileResult, paint_: Paint, cols: number): string[] {
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
  const width = Math.max(...lines.slice(1).map((l) => [...l].length));
  let out: string[];
  if (width + 2 + 20 <= cols) {
    out = [lines[0]!];
    for (let i = 1; i < lines.length; i++) out.push(`${lines[i]}  ${paint_.chart(bar(r.points[i - 1]!.chains.perSec / best, 20))}`);
  } else {
    out = fitTable(rows, paint_, cols);
  }
  const text =
    'retry: CAS retries per op on the submission ring · overflow: completions that went through a backlog · parks: worker parks · s→s submit→start, s→c start→complete, c→r complete→reap (µs)';
  for (const l of wrapText(text, cols)) out.push(paint_.dim(l));
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
  const cols = o.columns;
  const recorded = r.tool === 'syslet record';
  if (recorded) {
    for (const l of wrapText(`syslet record: ${r.program?.command ?? 'this process'}`, cols)) out.push(p.head(l));
    out.push(...wrapText(`${machineLine(r)}; ${r.points.length} runtime${r.points.length === 1 ? '' : 's'} recorded`, cols));
  } else {
    for (const l of wrapText(`syslet profile: ${sweep === null ? configLine(r.points[0]!) : `sweep ${sweep.param}=${sweep.values.join(',')}`}`, cols, ' · ')) {
      out.push(p.head(l));
    }
    out.push(...wrapText(`${machineLine(r)}; ${duration(r.options.durationMs)} per run`, cols));
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
    out.push(...sweepTable(r, p, cols));
  }
  return `${out.join('\n')}\n`;
}
