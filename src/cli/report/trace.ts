/**
 * The profile as a Chrome trace-event file (JSON object format), which Perfetto
 * (ui.perfetto.dev) and chrome://tracing open.
 *
 * One process per run (per sweep point), and in it:
 * - a thread track per producer: an "X" slice per recorded burst (the synchronous loop that
 *   submits `batch` chains), and the chains it submitted as async slices ("b"/"e", one per chain,
 *   from submit to reap; they overlap, so they cannot be thread slices, which must nest) named
 *   "producer N chain", which Perfetto lays out on one track per producer;
 * - a thread track per worker slot: an "X" slice per chain it ran, from start to complete (a worker
 *   runs one chain at a time, so these never overlap); `Completion.timing.worker` says which;
 * - counter tracks ("C") from the samples of rt.stats(): ring depth (submission ring, completion
 *   rings, overflow backlog), free slots, parked workers, chains/s, pool size; a recorded
 *   runtime's pool changes are instants ("pool grew → 3") on the same track, with their reasons.
 * A recording (syslet record) has one process per recorded runtime, and a thread track per thread
 * that submitted (its chains, named "<thread> chain"; its threadlets: "threadlet NAME" slices where
 * they ran inline, a "move" instant where one moved to a worker, the worker's run with its
 * "journal replay" inside it on the worker slot's track).
 * Only the first chains of each producer are recorded (the cap is in the file's metadata); the
 * counters cover the whole run. Timestamps are microseconds from the first run's start.
 */
import { Burst, Span, type PointTrace, type ProfileResult, type ThreadletSpan } from '../../index.js';
import { round3 } from './format.js';

export type { PointTrace } from '../../index.js';

type Event = Record<string, unknown>;

const PRODUCER_TID = 1000;
const WORKER_TID = 2000;
const SAMPLER_TID = 1;

export interface TraceFile {
  traceEvents: Event[];
  displayTimeUnit: 'ms';
  metadata: Record<string, unknown>;
}

export function traceEvents(result: ProfileResult, points: readonly PointTrace[]): TraceFile {
  const origin = points[0]?.t0 ?? 0;
  const ts = (ms: number): number => Math.round((ms - origin) * 1e6) / 1e3;
  const events: Event[] = [];
  let recorded = 0;
  let chains = 0;
  points.forEach((pt, i) => {
    const pid = i + 1;
    const res = result.points[i]!;
    const meta = (name: string, tid: number, args: Record<string, unknown>): void => {
      events.push({ ph: 'M', name, pid, tid, args });
    };
    const tool = result.tool;
    meta('process_name', SAMPLER_TID, { name: points.length > 1 || tool === 'syslet record' ? `${tool} ${pt.label}` : tool });
    meta('process_sort_index', SAMPLER_TID, { sort_index: pid });
    meta('thread_name', SAMPLER_TID, { name: 'main (sampler)' });
    meta('thread_sort_index', SAMPLER_TID, { sort_index: 0 });
    pt.producers.forEach((p, k) => {
      const tid = PRODUCER_TID + k + 1;
      const who = p.name ?? `producer ${k + 1}`;
      meta('thread_name', tid, { name: who });
      meta('thread_sort_index', tid, { sort_index: 1 + k });
      for (let o = 0; o < p.bursts.length; o += Burst.FIELDS) {
        const start = p.bursts[o + Burst.START]!;
        events.push({
          ph: 'X',
          name: 'submit burst',
          cat: 'producer',
          pid,
          tid,
          ts: ts(start),
          dur: Math.max(0, ts(p.bursts[o + Burst.END]!) - ts(start)),
          args: { chains: p.bursts[o + Burst.CHAINS] },
        });
      }
      chains += p.submitted;
      // Async slices pair 'b' and 'e' by id. A chain's id would give each chain a track of its
      // own; instead each span takes the first "lane" free at its submit time and uses the lane as
      // its id, so a producer's spans fill as many tracks as it had chains in flight at once.
      const laneEnds: number[] = [];
      for (let o = 0; o < p.spans.length; o += Span.FIELDS) {
        const id = p.spans[o + Span.ID]!;
        if (id === 0) continue;
        recorded++;
        const submitted = p.spans[o + Span.SUBMITTED]!;
        const started = p.spans[o + Span.STARTED]!;
        const completed = p.spans[o + Span.COMPLETED]!;
        const reaped = p.spans[o + Span.REAPED]!;
        const worker = p.spans[o + Span.WORKER]!;
        let lane = laneEnds.findIndex((end) => end <= submitted);
        if (lane < 0) lane = laneEnds.push(reaped) - 1;
        else laneEnds[lane] = reaped;
        const name = `${who} chain`;
        const args = {
          chain: id,
          worker,
          'submit→start µs': round3((started - submitted) * 1000),
          'start→complete µs': round3((completed - started) * 1000),
          'complete→reap µs': round3((reaped - completed) * 1000),
        };
        // Numeric: Perfetto reads a string id as hex.
        const asyncId = (k + 1) * 1_000_000 + lane;
        events.push({ ph: 'b', name, cat: 'chain', id: asyncId, pid, tid, ts: ts(submitted), args });
        events.push({ ph: 'e', name, cat: 'chain', id: asyncId, pid, tid, ts: ts(reaped) });
        if (worker >= 0 && started > 0) {
          events.push({
            ph: 'X',
            name: 'chain',
            cat: 'worker',
            pid,
            tid: WORKER_TID + worker,
            ts: ts(started),
            dur: Math.max(0, ts(completed) - ts(started)),
            args: { chain: id, [p.name === undefined ? 'producer' : 'thread']: p.name ?? k + 1 },
          });
        }
      }
      for (const t of p.threadlets ?? []) threadletEvents(t, pid, tid, ts, events);
    });
    for (const w of pt.workers) {
      meta('thread_name', WORKER_TID + w.slot, { name: `worker slot ${w.slot} (thread ${w.threadId})` });
      meta('thread_sort_index', WORKER_TID + w.slot, { sort_index: 1000 + w.slot });
    }
    const s = res.samples;
    for (let k = 0; k < s.t.length; k++) {
      const at = ts(pt.t0 + s.t[k]!);
      const counter = (name: string, args: Record<string, number>): void => {
        events.push({ ph: 'C', name, pid, tid: SAMPLER_TID, ts: at, args });
      };
      counter('ring depth', { submission: s.submission[k]!, completion: s.completion[k]!, backlog: s.backlog[k]! });
      counter('free slots', { free: s.free[k]! });
      counter('parked workers', { parked: s.parkedWorkers[k]! });
      counter('chains/s', { chains: s.chainsPerSec[k]! });
      if (s.poolSize !== undefined) counter('pool size', { workers: s.poolSize[k]! });
    }
    // The pool's changes, each an instant on the sampler's track with its reason.
    for (const c of res.pool?.changes ?? []) {
      events.push({ ph: 'i', s: 't', name: `pool ${c.change} → ${c.size}`, cat: 'pool', pid, tid: SAMPLER_TID, ts: ts(pt.t0 + c.t), args: { size: c.size, reason: c.reason } });
    }
  });
  const cap = points.reduce((a, p) => a + p.cap * p.producers.length, 0);
  const perRun = points.map((p) => p.cap * p.producers.length);
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    metadata: {
      tool: result.tool,
      ...(result.program === undefined ? {} : { program: result.program }),
      generated: result.generated,
      machine: result.machine,
      options: result.options,
      spans: {
        recorded,
        chains,
        cap,
        complete: recorded === chains,
        note:
          recorded === chains
            ? 'every chain is recorded'
            : `spans are capped (--trace-spans): at most ${perRun.join(', ')} chains per run, split evenly among its producers, each keeping the first ones it submitted; the counters cover the whole run`,
      },
      tracks: {
        'producer N': 'thread: "submit burst" slices (the synchronous submit loop); in a recording, a thread of the program, with its threadlets',
        'producer N chain': 'async: one slice per chain from submit to reap (Completion.timing)',
        'worker slot N': 'thread: one slice per chain from start to complete',
        'ring depth, free slots, parked workers, chains/s, pool size': `counters sampled from rt.stats() every ${result.options.intervalMs} ms; parked workers = workers that parked at least once in the interval; pool size = workers taking work (base and extras)`,
        'pool grew / retired / at bound': 'instants: a change of the pool (rt.stats().pool.history) when it happened, args.reason says why',
      },
    },
  };
}

/** A threadlet call's slices: inline on its thread, the move, the worker's run and replay. */
function threadletEvents(t: ThreadletSpan, pid: number, tid: number, ts: (ms: number) => number, events: Event[]): void {
  const name = `threadlet ${t.name}`;
  const slice = (at: number, until: number, n: string, cat: string, onTid: number, args: Record<string, unknown>): void => {
    events.push({ ph: 'X', name: n, cat, pid, tid: onTid, ts: ts(at), dur: Math.max(0, ts(until) - ts(at)), args });
  };
  if (t.placement !== 'worker') {
    slice(t.start, t.end, t.placement === 'inline' ? name : `${name} (inline part)`, 'threadlet', tid, {
      placement: t.placement,
      journaled: t.journaled,
      outcome: t.outcome,
    });
  }
  if (t.placement === 'migrated') {
    events.push({ ph: 'i', s: 't', name: `move at ${t.movedAt ?? '?'}`, cat: 'threadlet', pid, tid, ts: ts(t.end), args: { reason: t.reason, journaled: t.journaled } });
  }
  if (t.worker >= 0 && t.started > 0) {
    const wtid = WORKER_TID + t.worker;
    slice(t.started, t.completed, name, 'threadlet', wtid, { placement: t.placement, outcome: t.outcome });
    if (t.placement === 'migrated' && t.replayed > 0) {
      slice(t.started, t.replayed, 'journal replay', 'threadlet', wtid, { calls: t.journaled });
    }
  }
}

/** The trace file's text: one event per line, so that it stays diffable and greppable. */
export function buildTrace(result: ProfileResult, points: readonly PointTrace[]): string {
  const t = traceEvents(result, points);
  const lines = t.traceEvents.map((e) => JSON.stringify(e));
  return `{"displayTimeUnit":"ms","metadata":${JSON.stringify(t.metadata)},\n"traceEvents":[\n${lines.join(',\n')}\n]}\n`;
}
