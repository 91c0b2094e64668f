/**
 * The recorder: `rt.record()` profiles a program's own runtime, as `syslet profile` profiles a
 * synthetic one, and returns the same result shape (record/result.ts) for the same renderers.
 *
 * While a recording runs:
 * - a timer (unref'd: it never keeps the program alive) samples rt.stats() every `intervalMs`:
 *   ring depths, free slots, parked workers, chains/s, the pool's size (record/sampler.ts); at stop
 *   the pool's changes during the recording, with their reasons, come from rt.stats().pool;
 * - this thread's client times every submission (its latency sampling mask is 0; the runtime's
 *   own `latencySample` is put back when the last recording of the runtime stops), and tells the
 *   recording of each submission and settlement (Client.observer): chain spans from submit to
 *   reap, counts, failures;
 * - threadlet calls on this runtime (the 'syslet:threadlet' diagnostics channel, threadlet/define.ts)
 *   become spans: inline, moved (with the move and the worker's journal replay), or on a worker.
 * At stop, the ring and worker counters and the latency histograms are reported as differences
 * from their values at the start, so the figures cover exactly the recording.
 *
 * The rings, workers and latency histograms are the runtime's, shared by every thread that
 * attached to it; chain spans and counts are this thread's. A thread that attached records its own
 * (node --import syslet/profile does so for every thread: see autoRecord()).
 */
import diagnostics_channel from 'node:diagnostics_channel';
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';
import type { RuntimeStats } from '../runtime.js';
import type { PoolStats } from '../syslet/pool.js';
import type { Client, SettleObserver, Submission } from '../syslet/client.js';
import type { Completion } from '../syslet/entry.js';
import { ControlWord, H_START_TO_COMPLETE, H_SUBMIT_TO_START, type SharedState } from '../syslet/shared.js';
import { sharedNow, HistogramSnapshot, HISTOGRAM_BUCKETS, bucketLow, type LatencySummary } from 'atomics-sync';
import { RequestKind } from '../syslet/entry.js';
import type { ThreadletCallEvent } from '../threadlet/define.js';
import { RingSampler } from './sampler.js';
import {
  delta,
  machineInfo,
  Span,
  type PointResult,
  type PointTrace,
  type PoolChange,
  type PoolReport,
  type ProfileResult,
  type RecordedRuntime,
  type SubmitterTrace,
  type ThreadletSpan,
} from './result.js';

export interface RecordOptions {
  /** Milliseconds between samples of the rings (occupancy over time), from 1 to 60000. @default 50 */
  intervalMs?: number;
  /**
   * Chains, and threadlet calls, whose spans are kept for the trace (the first ones settled); the
   * counts and histograms cover all of them. From 0 to 10,000,000. @default 100000
   */
  traceSpans?: number;
}

/** What a runtime gives its recorder (runtime.ts builds it; nothing here imports the Runtime). */
export interface RecordHost {
  readonly runtime: object;
  readonly s: SharedState;
  readonly client: Client;
  /** Joined from another thread (Runtime.attach). */
  readonly attached: boolean;
  /** The runtime's latencySample option. */
  readonly latencySample: number;
  stats(): RuntimeStats;
}

/** A recording's state: a discriminated union on `state`. */
type Phase = { state: 'recording' } | { state: 'stopped'; result: ProfileResult; trace: PointTrace };

const DEFAULT_INTERVAL_MS = 50;
const DEFAULT_TRACE_SPANS = 100_000;

/** The runtimes recorded in this thread so far, numbered from 1 in the order they were made. */
const runtimeIndex = new WeakMap<object, number>();
let runtimes = 0;

/** Every recording of one runtime on this thread: the client's observer fans out to them. */
class Hub implements SettleObserver {
  readonly recordings = new Set<Recording>();
  readonly sampleMaskBefore: number;
  constructor(readonly host: RecordHost) {
    this.sampleMaskBefore = host.client.sampleMask;
  }
  submitted(sub: Submission): void {
    for (const r of this.recordings) r._submitted(sub);
  }
  settled(sub: Submission, c: Completion): void {
    for (const r of this.recordings) r._settled(sub, c);
  }
}

const hubs = new WeakMap<Client, Hub>();

/**
 * A chain, for the report: a chain submitted as data, or one a codec writes straight into its entry
 * (syslet/fs's batches: RequestKind.CHAIN); anything else is a threadlet call.
 */
function isChain(sub: Submission): boolean {
  return sub.kind === RequestKind.CHAIN;
}
const threadletChannel = diagnostics_channel.channel('syslet:threadlet');

/** Histograms of every worker slot (per stage) and every completion queue, summed. */
function histograms(s: SharedState): HistogramSnapshot[] {
  const queued = new HistogramSnapshot();
  const running = new HistogramSnapshot();
  const reaped = new HistogramSnapshot();
  for (let w = 0; w < s.maxWorkers; w++) {
    queued.add(s.ctl64, s.workerHist(w, H_SUBMIT_TO_START));
    running.add(s.ctl64, s.workerHist(w, H_START_TO_COMPLETE));
  }
  for (let q = 0; q < s.numCqs; q++) reaped.add(s.ctl64, s.cqHist(q));
  return [queued, running, reaped];
}

/**
 * The latency of what was recorded between two histogram snapshots. Counts and sums subtract; the
 * largest value does not: it is the later snapshot's when that grew during the recording, else the
 * top of the highest bucket that gained a value (within the histogram's 12.5%), capped by it.
 */
function latencyBetween(a: HistogramSnapshot, b: HistogramSnapshot): LatencySummary {
  const d = new HistogramSnapshot();
  let top = -1;
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
    const n = Math.max(0, b.buckets[i]! - a.buckets[i]!);
    d.buckets[i] = n;
    if (n > 0) top = i;
  }
  d.count = Math.max(0, b.count - a.count);
  d.sum = Math.max(0, b.sum - a.sum);
  d.max = d.count === 0 ? 0 : b.max > a.max ? b.max : Math.min(b.max, bucketLow(top + 1));
  return d.summary();
}

/** `id` was handed out at or after `first` (request ids are u32 and wrap). */
function idFrom(id: number, first: number): boolean {
  return ((id - first) | 0) >= 0;
}

/** A running recording of one runtime; `await rec.stop()` for the result. */
export class Recording {
  readonly #host: RecordHost;
  readonly #hub: Hub;
  readonly #intervalMs: number;
  readonly #cap: number;
  readonly #sampler: RingSampler;
  readonly #timer: NodeJS.Timeout;
  readonly #hist0: HistogramSnapshot[];
  readonly #firstId: number;
  readonly #fromMs: number;
  readonly #index: number;
  #phase: Phase = { state: 'recording' };
  /** @internal Called once it stopped (the thread recorder sends it on). */
  _onStopped: ((by: RecordedRuntime['stoppedBy']) => void) | undefined = undefined;
  #submitted = 0;
  #completed = 0;
  #failed = 0;
  #threadletCalls = 0;
  /** Span.FIELDS numbers per chain, in the order they settled. */
  #spans: Float64Array;
  #nSpans = 0;
  readonly #threadlets: ThreadletSpan[] = [];
  /** Threadlet calls that left this thread, by submission id, until both halves are known. */
  readonly #moved = new Map<number, ThreadletSpan>();
  readonly #onThreadlet = (m: unknown): void => this.#threadlet(m as ThreadletCallEvent);

  /** @internal Use rt.record(). */
  constructor(host: RecordHost, o: RecordOptions) {
    this.#host = host;
    this.#intervalMs = o.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.#cap = o.traceSpans ?? DEFAULT_TRACE_SPANS;
    let index = runtimeIndex.get(host.runtime);
    if (index === undefined) runtimeIndex.set(host.runtime, (index = ++runtimes));
    this.#index = index;
    let hub = hubs.get(host.client);
    if (hub === undefined) {
      hub = new Hub(host);
      hubs.set(host.client, hub);
      host.client.observer = hub;
      host.client.sampleMask = 0;
    }
    this.#hub = hub;
    hub.recordings.add(this);
    this.#spans = new Float64Array(Math.min(this.#cap, 1024) * Span.FIELDS);
    // The id counter's current value (it pairs with nextId()'s Atomics.add on every thread): the
    // ids handed out from here on are this recording's.
    this.#firstId = (Atomics.load(host.s.ctl, ControlWord.NEXT_ID) + 1) >>> 0;
    this.#hist0 = histograms(host.s);
    this.#fromMs = performance.now();
    this.#sampler = new RingSampler(() => host.stats(), () => true, this.#intervalMs);
    this.#timer = setInterval(() => this.#sampler.sample(), this.#intervalMs);
    this.#timer.unref();
    threadletChannel.subscribe(this.#onThreadlet);
  }

  /** This thread's number for the runtime (1: the first runtime recorded in this thread). */
  get runtimeIndex(): number {
    return this.#index;
  }

  /** Still recording. */
  get recording(): boolean {
    return this.#phase.state === 'recording';
  }

  /** After stop(): what the trace needs besides the result (per-chain spans, threads, workers). */
  get trace(): PointTrace | undefined {
    return this.#phase.state === 'stopped' ? this.#phase.trace : undefined;
  }

  /**
   * Stop and return the figures: the same shape `syslet profile --json` prints, one point for this
   * runtime. Stopping again returns the same result. (rt.close() stops it too, after its
   * submissions have settled.)
   */
  async stop(): Promise<ProfileResult> {
    return this._stop('stop');
  }

  /** @internal Stop now (synchronously: also from a process 'exit' listener). */
  _stop(by: RecordedRuntime['stoppedBy']): ProfileResult {
    if (this.#phase.state === 'stopped') return this.#phase.result;
    clearInterval(this.#timer);
    threadletChannel.unsubscribe(this.#onThreadlet);
    const last = this.#sampler.sample();
    const hist1 = histograms(this.#host.s);
    const toMs = performance.now();
    const hub = this.#hub;
    hub.recordings.delete(this);
    if (hub.recordings.size === 0) {
      this.#host.client.observer = undefined;
      this.#host.client.sampleMask = hub.sampleMaskBefore;
      hubs.delete(this.#host.client);
    }
    const { result, trace } = this.#build(last, hist1, this.#fromMs, toMs, by);
    this.#phase = { state: 'stopped', result, trace };
    this._onStopped?.(by);
    return result;
  }

  // ---- what the client and the threadlet channel tell -----------------------------------------

  /** @internal */
  _submitted(sub: Submission): void {
    if (isChain(sub)) this.#submitted++;
    else this.#threadletCalls++;
  }

  /** @internal */
  _settled(sub: Submission, c: Completion): void {
    if (!idFrom(sub.id, this.#firstId)) return;
    const t = c.timing;
    if (!isChain(sub)) {
      this.#threadletSettled(sub.id, c);
      return;
    }
    this.#completed++;
    if (c.status !== 'done' || c.result < 0) this.#failed++;
    if (this.#nSpans >= this.#cap) return;
    if ((this.#nSpans + 1) * Span.FIELDS > this.#spans.length) {
      const grown = new Float64Array(Math.min(this.#cap, this.#spans.length / Span.FIELDS * 2) * Span.FIELDS);
      grown.set(this.#spans);
      this.#spans = grown;
    }
    const o = this.#nSpans++ * Span.FIELDS;
    const sp = this.#spans;
    sp[o + Span.ID] = sub.id;
    if (t !== undefined) {
      sp[o + Span.SUBMITTED] = t.submitted;
      sp[o + Span.STARTED] = t.started;
      sp[o + Span.COMPLETED] = t.completed;
      sp[o + Span.REAPED] = t.reaped;
      sp[o + Span.WORKER] = t.worker;
    } else {
      // Ended inline (a chain of SYSLET_SYNC atoms) or never reached a slot (cancelled while it
      // waited): no worker timed it. A span of no length where it settled, on no worker.
      const now = sharedNow();
      sp[o + Span.SUBMITTED] = now;
      sp[o + Span.STARTED] = 0;
      sp[o + Span.COMPLETED] = now;
      sp[o + Span.REAPED] = now;
      sp[o + Span.WORKER] = -1;
    }
  }

  #threadlet(e: ThreadletCallEvent): void {
    if (e.runtime !== this.#host.runtime) return;
    const span: ThreadletSpan = {
      ...workerPart(),
      name: e.name,
      placement: e.placement,
      start: e.start,
      end: e.end,
      movedAt: e.movedAt,
      reason: e.reason,
      journaled: e.journaled,
      outcome: e.handle.state,
    };
    if (this.#threadlets.length < this.#cap) this.#threadlets.push(span);
    if (e.id === undefined) return;
    // Its completion may have settled already (cancelled before it started): join both halves.
    const early = this.#moved.get(e.id);
    if (early !== undefined) {
      this.#moved.delete(e.id);
      Object.assign(span, { ...early, name: span.name, placement: span.placement, start: span.start, end: span.end, movedAt: span.movedAt, reason: span.reason, journaled: span.journaled });
    } else this.#moved.set(e.id, span);
  }

  #threadletSettled(id: number, c: Completion): void {
    const t = c.timing;
    const part: ThreadletSpan = this.#moved.get(id) ?? workerPart();
    part.outcome = c.status === 'done' ? 'fulfilled' : 'rejected';
    if (t !== undefined) {
      part.submitted = t.submitted;
      part.started = t.started;
      part.replayed = t.replayed ?? 0;
      part.completed = t.completed;
      part.reaped = t.reaped;
      part.worker = t.worker;
    }
    if (this.#moved.delete(id)) return;
    // Settled before the call event came (it is published once the call returns): keep it for it.
    this.#moved.set(id, part);
  }

  // ---- the result -----------------------------------------------------------------------------

  #build(
    last: RuntimeStats,
    hist1: HistogramSnapshot[],
    fromMs: number,
    toMs: number,
    by: RecordedRuntime['stoppedBy'],
  ): { result: ProfileResult; trace: PointTrace } {
    const host = this.#host;
    const elapsedMs = toMs - fromMs;
    const sec = elapsedMs / 1000;
    const own = host.client.cq;
    const thread = isMainThread ? 'main thread' : `thread ${threadId}`;
    const { submission, free, completion, workers } = this.#sampler.report(last, elapsedMs, (q) =>
      q === own ? { name: `completion · ${thread}`, producer: 1 } : { name: `completion · queue ${q}` },
    );
    const atoms = workers.reduce((a, w) => a + w.atoms, 0);
    const [q0, r0, c0] = this.#hist0;
    const [q1, r1, c1] = hist1;
    const s = host.s;
    const runtime: RecordedRuntime = {
      index: this.#index,
      attached: host.attached,
      fromMs: Math.round(fromMs * 1000) / 1000,
      toMs: Math.round(toMs * 1000) / 1000,
      stoppedBy: by,
      latencySample: 1,
      latencySampleBefore: host.latencySample,
    };
    const label = `runtime ${this.#index}${host.attached ? ` (attached on ${thread})` : ''}`;
    const point: PointResult = {
      label,
      config: {
        producers: 1,
        workers: last.workers.filter((w) => w.state === 'running').length,
        ring: s.layout.capacity,
        completionRing: s.cqs[0]!.ring.capacity,
        batch: 0,
        atoms: 0,
        mix: { nop: 0, stat: 0, read: 0 },
      },
      elapsedMs: Math.round(elapsedMs * 1000) / 1000,
      chains: {
        submitted: this.#submitted,
        completed: this.#completed,
        failed: this.#failed,
        perSec: sec > 0 ? this.#completed / sec : 0,
      },
      atoms: { executed: atoms, perSec: sec > 0 ? atoms / sec : 0 },
      rings: { submission, free, completion },
      latency: {
        submitToStart: latencyBetween(q0!, q1!),
        startToComplete: latencyBetween(r0!, r1!),
        completeToReap: latencyBetween(c0!, c1!),
      },
      workers,
      producers: [
        { producer: 1, thread, cq: own, submitted: this.#submitted, completed: this.#completed, failed: this.#failed, bursts: 0 },
      ],
      samples: this.#sampler.samples,
      workerDeaths: delta(this.#sampler.first.workerDeaths, last.workerDeaths),
      ...(last.pool === undefined ? {} : { pool: poolReport(this.#sampler.first.pool, last.pool, this.#sampler.t0) }),
      runtime,
    };
    const result: ProfileResult = {
      tool: 'syslet record',
      version: 1,
      generated: new Date().toISOString(),
      machine: machineInfo(),
      options: { durationMs: point.elapsedMs, intervalMs: this.#intervalMs, sweep: null, config: point.config },
      points: [point],
    };
    const submitter: SubmitterTrace = {
      name: thread,
      spans: sortedSpans(this.#spans, this.#nSpans),
      bursts: new Float64Array(0),
      submitted: this.#submitted,
      threadlets: this.#threadlets,
    };
    const trace: PointTrace = {
      label,
      t0: this.#sampler.t0,
      cap: this.#cap,
      producers: [submitter],
      workers: last.workers.map((w) => ({ slot: w.slot, threadId: w.threadId })),
    };
    return { result, trace };
  }
}

/**
 * The pool during a recording: the changes in `last`'s history from `t0` (sharedNow(), ms: the
 * samples' origin) on, and the counts' differences from `first` (the same runtime's stats).
 */
export function poolReport(first: PoolStats | undefined, last: PoolStats, t0: number): PoolReport {
  const changes: PoolChange[] = [];
  for (const e of last.history) {
    const t = last.startedAt + e.at - t0;
    if (t >= 0) changes.push({ t: Math.round(t * 100) / 100, change: e.change, size: e.size, reason: e.reason });
  }
  return {
    base: last.base,
    max: last.max,
    grew: delta(first?.grew ?? 0, last.grew),
    retired: delta(first?.retired ?? 0, last.retired),
    atBound: delta(first?.atBound ?? 0, last.atBound),
    changes,
  };
}

/** A threadlet span with no worker part yet (and, until its call event comes, no caller part). */
function workerPart(): ThreadletSpan {
  return {
    name: '?',
    placement: 'worker',
    start: 0,
    end: 0,
    movedAt: undefined,
    reason: undefined,
    journaled: 0,
    submitted: 0,
    started: 0,
    replayed: 0,
    completed: 0,
    reaped: 0,
    worker: -1,
    outcome: '',
  };
}

/** The first `n` spans of `spans`, ordered by submission time (the trace lays out lanes in order). */
function sortedSpans(spans: Float64Array, n: number): Float64Array {
  const order = Array.from({ length: n }, (_, k) => k);
  order.sort((a, b) => spans[a * Span.FIELDS + Span.SUBMITTED]! - spans[b * Span.FIELDS + Span.SUBMITTED]!);
  const out = new Float64Array(n * Span.FIELDS);
  order.forEach((k, i) => out.set(spans.subarray(k * Span.FIELDS, (k + 1) * Span.FIELDS), i * Span.FIELDS));
  return out;
}

function checkOptions(o: RecordOptions): RecordOptions {
  if (typeof o !== 'object' || o === null) throw new TypeError(`record: options: expected an object, got ${String(o)}`);
  for (const k of Object.keys(o)) {
    if (k !== 'intervalMs' && k !== 'traceSpans') throw new TypeError(`record: options.${k}: unknown option`);
  }
  const int = (name: 'intervalMs' | 'traceSpans', min: number, max: number): void => {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)) {
      throw new TypeError(`record: options.${name}: expected an integer from ${min} to ${max}, got ${String(v)}`);
    }
  };
  int('intervalMs', 1, 60_000);
  int('traceSpans', 0, 10_000_000);
  return o;
}

/** Start recording `host`'s runtime (rt.record()). */
export function startRecording(host: RecordHost, o: RecordOptions = {}): Recording {
  return new Recording(host, checkOptions(o));
}

/** rt.close(): stop the runtime's recordings (its submissions have settled). */
export function stopRecordings(client: Client): void {
  const hub = hubs.get(client);
  if (hub !== undefined) for (const r of [...hub.recordings]) r._stop('close');
}

// ---- recording every runtime (node --import syslet/profile) -----------------------------------

/**
 * 'syslet:runtime' publishes every runtime made in this thread (its RecordHost), so that the
 * preload's collector (cli/record-collector.ts) records it from its first submission.
 */
const runtimeChannel = diagnostics_channel.channel('syslet:runtime');

/**
 * SYSLET_PROFILE names the directory a recorded program writes to (the preload sets it, and
 * threads inherit it). A runtime made in a thread other than the main one, where the preload does
 * not run, then records itself and leaves its recording in the directory when it stops (rt.close(),
 * or the thread exiting) for the collector to merge when the process exits.
 */
const PROFILE_DIR = process.env.SYSLET_PROFILE;

/** Where threads leave their recordings, under the profile directory. */
export const THREAD_REPORTS_DIR = '.threads';

/** One thread's recording of a runtime, as a thread leaves it (JSON). */
export interface ThreadReport {
  /** The recording process. */
  pid: number;
  /** The runtime's ControlWord.RUNTIME_KEY. */
  key: number;
  result: ProfileResult;
  /** The trace, its Float64Arrays as arrays. */
  trace: PointTrace;
}

/** A runtime was made (runtime.ts calls this once per runtime). */
export function runtimeCreated(host: RecordHost): void {
  if (runtimeChannel.hasSubscribers) runtimeChannel.publish(host);
  else if (PROFILE_DIR !== undefined && !isMainThread) recordThread(host, PROFILE_DIR);
}

/** The runtime's key (ControlWord.RUNTIME_KEY): the same number in every thread that maps it. */
export function runtimeKey(host: RecordHost): number {
  return Atomics.load(host.s.ctl, ControlWord.RUNTIME_KEY);
}

/** A worker thread's runtime: record it, and leave the recording in `dir` when it stops. */
function recordThread(host: RecordHost, dir: string): void {
  const rec = startRecording(host, {});
  const key = runtimeKey(host);
  const onExit = (): void => {
    rec._stop('exit');
  };
  rec._onStopped = () => {
    process.removeListener('exit', onExit);
    const trace = rec.trace!;
    const report: ThreadReport = { pid: process.pid, key, result: rec._stop('exit'), trace };
    const json = JSON.stringify(report, (_k, v: unknown) => (v instanceof Float64Array ? Array.from(v) : v));
    try {
      const where = path.join(dir, THREAD_REPORTS_DIR);
      fs.mkdirSync(where, { recursive: true });
      // Synchronous: it may run as the thread exits.
      fs.writeFileSync(path.join(where, `${process.pid}-${threadId}-${key >>> 0}-${rec.runtimeIndex}.json`), json);
    } catch (e) {
      process.stderr.write(`syslet/profile: could not save thread ${threadId}'s recording: ${(e as Error).message}\n`);
    }
  };
  // rt.close() stops it; a thread that leaves without closing its runtime stops it as it exits.
  process.once('exit', onExit);
}
