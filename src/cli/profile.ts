/**
 * `syslet profile`: drive a contention workload through the real rings and report what they cost.
 *
 * One run (a "point"): a fresh runtime with `latencySample: 1` (every chain is timed), `producers`
 * worker threads that join it with Runtime.attach and submit bursts of chains in a loop
 * (profile-worker.ts), for `duration`. Meanwhile this thread samples rt.stats() on a timer for
 * occupancy over time. At the end the producers drain what they have in flight and report; the
 * final rt.stats() is taken while their completion queues are still attached (a queue that is
 * released drops out of stats()), and the ring counters are reported as differences from a
 * snapshot taken just before GO. The latency histograms are the runtime's own, and nothing ran on
 * it before GO, so they cover exactly the run.
 *
 * `--sweep PARAM=V1,V2,...` runs one point per value. The command line is profile-command.ts; the
 * outputs are a terminal report (report/terminal), the raw figures as JSON (ProfileResult), a
 * self-contained HTML page (report/html) and a Chrome trace-event file (report/trace).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Runtime, type QueueStats, type RuntimeStats } from '../index.js';
import { makeTempDir } from './process.js';
import type { RingCounters, LatencySummary } from '../index.js';
import { sharedNow } from '../ring/layout.js';
import { Ctl, type OpKind, type ProducerData, type ProducerDone, type ProducerMessage } from './profile-protocol.js';
import { round3 } from './report/format.js';
import type { PointTrace } from './report/trace.js';

const PRODUCER_FILE = fileURLToPath(new URL('./profile-worker.js', import.meta.url));

export const OP_KINDS: readonly OpKind[] = ['nop', 'stat', 'read'];
export const SWEEP_PARAMS = ['producers', 'workers', 'ring', 'batch', 'atoms'] as const;
export type SweepParam = (typeof SWEEP_PARAMS)[number];

/** The workload of one point. */
export interface PointConfig {
  /** Producer threads. @default 2 */
  producers: number;
  /** Worker threads. @default os.availableParallelism() */
  workers: number;
  /** Submission ring capacity (request slots). @default 4096 */
  ring: number;
  /** Completion ring capacity per queue. @default ring */
  completionRing: number;
  /** Chains each producer submits back to back per burst. @default 64 */
  batch: number;
  /** Atoms per chain. @default 1 */
  atoms: number;
  /** Operation weights (nop atoms, stat, 4 KiB pread). @default { nop: 1 } */
  mix: Record<OpKind, number>;
}

export interface ProfileOptions {
  config: PointConfig;
  /** --completion-ring was given (otherwise it follows the ring size, also when sweeping it). */
  completionRingGiven: boolean;
  /** Per point. @default 3000 */
  durationMs: number;
  /** Sampling interval for occupancy over time; 0: duration / 200, at least 10 ms. @default 0 */
  intervalMs: number;
  sweep: { param: SweepParam; values: number[] } | undefined;
  /** Chains whose spans go into the trace, over all points and producers. @default 10000 */
  traceSpans: number;
  html: string | undefined;
  trace: string | undefined;
  json: boolean;
}

export const DEFAULT_OPTIONS: Omit<ProfileOptions, 'config'> & { config: Omit<PointConfig, 'workers'> } = {
  config: { producers: 2, ring: 4096, completionRing: 4096, batch: 64, atoms: 1, mix: { nop: 1, stat: 0, read: 0 } },
  completionRingGiven: false,
  durationMs: 3000,
  intervalMs: 0,
  sweep: undefined,
  traceSpans: 10_000,
  html: undefined,
  trace: undefined,
  json: false,
};

// ---- results -------------------------------------------------------------------------------------

export interface RingReport {
  /** submission, free, or completion. */
  ring: 'submission' | 'free' | 'completion';
  /** Display name: "submission", "free", "completion · producer 1". */
  name: string;
  /** For completion queues: the queue index and its owner (1-based producer number, 0: main). */
  cq?: number;
  producer?: number;
  capacity: number;
  pushes: number;
  pops: number;
  pushesPerSec: number;
  popsPerSec: number;
  pushRetries: number;
  popRetries: number;
  /** CAS retries per successful push / pop. */
  retriesPerPush: number;
  retriesPerPop: number;
  fullEvents: number;
  emptyEvents: number;
  producerParks: number;
  consumerParks: number;
  /** Wake-ups issued to parked producers / consumers. */
  producerWakes: number;
  consumerWakes: number;
  /** From the samples (items in the ring; the completion rings' overflow backlog not included). */
  occupancy: { mean: number; max: number; final: number };
  /** Completion queues: records that went through the overflow backlog, and its peak. */
  overflow?: { total: number; peak: number };
}

export interface WorkerReport {
  slot: number;
  threadId: number;
  chains: number;
  atoms: number;
  parks: number;
  spinHits: number;
}

export interface ProducerReport {
  /** 1-based. */
  producer: number;
  cq: number;
  submitted: number;
  completed: number;
  failed: number;
  bursts: number;
}

/** Columns of samples of rt.stats() taken every `intervalMs` (t in ms from GO). */
export interface Samples {
  intervalMs: number;
  t: number[];
  /** Items in the submission ring. */
  submission: number[];
  /** Free request slots in the free ring (threads also keep up to 64 each, not counted here). */
  free: number[];
  /** Items in the producers' completion rings, summed. */
  completion: number[];
  /** Records in their overflow backlogs, summed. */
  backlog: number[];
  /** Workers whose park count rose since the previous sample (they slept at least once). */
  parkedWorkers: number[];
  /** Worker parks since the previous sample. */
  workerParks: number[];
  /** Chains the workers finished since the previous sample, per second. */
  chainsPerSec: number[];
}

export interface PointResult {
  /** "producers=2" when sweeping, else "run". */
  label: string;
  param?: SweepParam;
  value?: number;
  config: PointConfig;
  /** From GO to the last producer's drained report. */
  elapsedMs: number;
  chains: { submitted: number; completed: number; failed: number; perSec: number };
  atoms: { executed: number; perSec: number };
  rings: { submission: RingReport; free: RingReport; completion: RingReport[] };
  /** Nanoseconds, from the runtime's log-bucket histograms (every chain sampled). */
  latency: { submitToStart: LatencySummary; startToComplete: LatencySummary; completeToReap: LatencySummary };
  workers: WorkerReport[];
  producers: ProducerReport[];
  samples: Samples;
  workerDeaths: number;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  platform: string;
  arch: string;
  release: string;
  totalMemBytes: number;
  node: string;
}

export interface ProfileResult {
  tool: 'syslet profile';
  version: 1;
  generated: string;
  machine: MachineInfo;
  options: {
    durationMs: number;
    intervalMs: number;
    sweep: { param: SweepParam; values: number[] } | null;
    config: PointConfig;
  };
  points: PointResult[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    platform: os.platform(),
    arch: os.arch(),
    release: os.release(),
    totalMemBytes: os.totalmem(),
    node: process.version,
  };
}

// ---- the run -----------------------------------------------------------------------------------

/** The files reads and stats go to: 64 files of 4 KiB in 8 directories under the OS temp dir. */
interface Tree {
  dir: string;
  remove: () => void;
  paths: string[];
  fds: number[];
}

const TREE_DIRS = 8;
const TREE_FILES_PER_DIR = 8;

function makeTree(withFds: boolean): Tree {
  // Removed by removeTree, or on any exit (SIGINT, SIGTERM) before it.
  const { dir, remove } = makeTempDir('syslet-profile-');
  const tree: Tree = { dir, remove, paths: [], fds: [] };
  try {
    const data = Buffer.alloc(4096, 'syslet profile ');
    for (let d = 0; d < TREE_DIRS; d++) {
      const sub = path.join(dir, `d${d}`);
      fs.mkdirSync(sub);
      for (let f = 0; f < TREE_FILES_PER_DIR; f++) {
        const p = path.join(sub, `f${f}`);
        fs.writeFileSync(p, data);
        tree.paths.push(p);
        if (withFds) tree.fds.push(fs.openSync(p, 'r'));
      }
    }
  } catch (e) {
    removeTree(tree);
    throw e;
  }
  return tree;
}

function removeTree(t: Tree): void {
  for (const fd of t.fds) fs.closeSync(fd);
  t.fds.length = 0;
  t.remove();
}

export interface ProgressHooks {
  /** Called every sample: the point running (0-based), its fraction done, chains finished so far. */
  onProgress?(point: number, points: number, fraction: number, chains: number): void;
}

/** A point's result plus what only the trace needs. */
export interface PointRun {
  result: PointResult;
  trace: PointTrace;
}

/** The configurations of the points the options ask for. */
export function pointConfigs(o: ProfileOptions): { label: string; param?: SweepParam; value?: number; config: PointConfig }[] {
  if (o.sweep === undefined) return [{ label: 'run', config: o.config }];
  const { param, values } = o.sweep;
  return values.map((value) => {
    const config: PointConfig = { ...o.config, mix: { ...o.config.mix } };
    config[param] = value;
    if (param === 'ring' && !o.completionRingGiven) config.completionRing = value;
    return { label: `${param}=${value}`, param, value, config };
  });
}

function intervalFor(o: ProfileOptions): number {
  return o.intervalMs > 0 ? o.intervalMs : Math.max(10, Math.round(o.durationMs / 200));
}

/** Run every point of `o`; the producers' temp tree is created once and removed at the end. */
export async function runProfile(o: ProfileOptions, hooks: ProgressHooks = {}): Promise<{ result: ProfileResult; runs: PointRun[] }> {
  const configs = pointConfigs(o);
  const needsTree = configs.some((c) => c.config.mix.stat > 0 || c.config.mix.read > 0);
  const needsFds = configs.some((c) => c.config.mix.read > 0);
  const tree = needsTree ? makeTree(needsFds) : undefined;
  const runs: PointRun[] = [];
  try {
    const spansPerPoint = Math.floor(o.traceSpans / configs.length);
    for (let i = 0; i < configs.length; i++) {
      const c = configs[i]!;
      const run = await runPoint(c, o, tree, o.trace === undefined ? 0 : spansPerPoint, (f, chains) =>
        hooks.onProgress?.(i, configs.length, f, chains),
      );
      runs.push(run);
    }
  } finally {
    if (tree !== undefined) removeTree(tree);
  }
  const result: ProfileResult = {
    tool: 'syslet profile',
    version: 1,
    generated: new Date().toISOString(),
    machine: machineInfo(),
    options: {
      durationMs: o.durationMs,
      intervalMs: intervalFor(o),
      sweep: o.sweep === undefined ? null : { param: o.sweep.param, values: [...o.sweep.values] },
      config: o.config,
    },
    points: runs.map((r) => r.result),
  };
  return { result, runs };
}

/** A producer thread and the promises of its two reports. */
interface ProducerHandle {
  worker: Worker;
  ready: Promise<number>;
  done: Promise<ProducerDone>;
  exited: Promise<void>;
}

function startProducer(data: ProducerData): ProducerHandle {
  const worker = new Worker(PRODUCER_FILE, { workerData: data });
  let onReady!: (cq: number) => void;
  let onDone!: (d: ProducerDone) => void;
  let fail!: (e: Error) => void;
  const ready = new Promise<number>((res, rej) => {
    onReady = res;
    fail = rej;
  });
  let failDone!: (e: Error) => void;
  const done = new Promise<ProducerDone>((res, rej) => {
    onDone = res;
    failDone = rej;
  });
  // Whichever is still pending rejects; a settled promise ignores it.
  const failAll = (e: Error): void => {
    fail(e);
    failDone(e);
  };
  ready.catch(() => {});
  done.catch(() => {});
  let finished = false;
  worker.on('message', (m: ProducerMessage) => {
    if (m.type === 'ready') onReady(m.cq);
    else if (m.type === 'done') {
      finished = true;
      onDone(m);
    } else failAll(new Error(`profile: producer ${data.index + 1} failed: ${m.message}`));
  });
  worker.on('error', (e) => failAll(new Error(`profile: producer ${data.index + 1} failed: ${e.stack ?? e.message}`)));
  const exited = new Promise<void>((res) => {
    worker.on('exit', (code) => {
      if (!finished) failAll(new Error(`profile: producer ${data.index + 1} exited (code ${code}) before reporting`));
      res();
    });
  });
  return { worker, ready, done, exited };
}

function delta(a: number, b: number): number {
  return Math.max(0, b - a);
}

function ringReport(
  ring: RingReport['ring'],
  name: string,
  a: RingCounters,
  b: RingCounters,
  elapsedSec: number,
  occupancy: number[],
): RingReport {
  const pushes = delta(a.pushes, b.pushes);
  const pops = delta(a.pops, b.pops);
  const pushRetries = delta(a.pushRetries, b.pushRetries);
  const popRetries = delta(a.popRetries, b.popRetries);
  const mean = occupancy.length === 0 ? 0 : occupancy.reduce((s, x) => s + x, 0) / occupancy.length;
  return {
    ring,
    name,
    capacity: b.capacity,
    pushes,
    pops,
    pushesPerSec: elapsedSec > 0 ? pushes / elapsedSec : 0,
    popsPerSec: elapsedSec > 0 ? pops / elapsedSec : 0,
    pushRetries,
    popRetries,
    retriesPerPush: pushes > 0 ? pushRetries / pushes : 0,
    retriesPerPop: pops > 0 ? popRetries / pops : 0,
    fullEvents: delta(a.fullEvents, b.fullEvents),
    emptyEvents: delta(a.emptyEvents, b.emptyEvents),
    producerParks: delta(a.producerParks, b.producerParks),
    consumerParks: delta(a.consumerParks, b.consumerParks),
    producerWakes: delta(a.producerWakes, b.producerWakes),
    consumerWakes: delta(a.consumerWakes, b.consumerWakes),
    occupancy: { mean, max: occupancy.reduce((m, x) => Math.max(m, x), 0), final: b.occupancy },
  };
}

async function runPoint(
  c: { label: string; param?: SweepParam; value?: number; config: PointConfig },
  o: ProfileOptions,
  tree: Tree | undefined,
  traceSpans: number,
  progress: (fraction: number, chains: number) => void,
): Promise<PointRun> {
  const cfg = c.config;
  const intervalMs = intervalFor(o);
  const rt = await Runtime.create({
    workers: cfg.workers,
    ringSize: cfg.ring,
    completionRingSize: cfg.completionRing,
    latencySample: 1,
    // One completion queue per producer, one for this thread.
    maxQueues: Math.max(64, Math.min(1024, cfg.producers + 1)),
    arenaBytes: 64 * 1024 * 1024,
  });
  const control = new SharedArrayBuffer(Ctl.WORDS * 4);
  const ctl = new Int32Array(control);
  const producers: ProducerHandle[] = [];
  let sampler: NodeJS.Timeout | undefined;
  let stopper: NodeJS.Timeout | undefined;
  let closed = false;
  try {
    const handle = rt.share();
    const perProducer = Math.floor(traceSpans / cfg.producers);
    for (let p = 0; p < cfg.producers; p++) {
      producers.push(
        startProducer({
          handle,
          index: p,
          control,
          batch: cfg.batch,
          atoms: cfg.atoms,
          mix: cfg.mix,
          paths: tree?.paths ?? [],
          fds: tree?.fds ?? [],
          traceSpans: perProducer,
        }),
      );
    }
    const cqs = await Promise.all(producers.map((p) => p.ready));
    const ownerOf = new Map<number, number>(cqs.map((q, p) => [q, p + 1]));

    const samples: Samples = {
      intervalMs,
      t: [],
      submission: [],
      free: [],
      completion: [],
      backlog: [],
      parkedWorkers: [],
      workerParks: [],
      chainsPerSec: [],
    };
    const cqOcc = new Map<number, number[]>(cqs.map((q) => [q, []]));
    const s0 = rt.stats();
    const chains0 = s0.workers.reduce((s, w) => s + w.chains, 0);
    // The previous sample's figures, carried forward: its park counters by worker slot and its
    // chain total, so a sample does not search and re-sum the one before it.
    const parksOf = (st: RuntimeStats): Map<number, number> => new Map(st.workers.map((w) => [w.slot, w.parks]));
    let prevParks = parksOf(s0);
    let prevChains = chains0;
    let prevT = 0;
    const t0 = sharedNow();
    const sample = (): RuntimeStats => {
      const st = rt.stats();
      const t = sharedNow() - t0;
      const producerQueues = st.rings.queues.filter((q) => ownerOf.has(q.cq));
      samples.t.push(round3(t));
      samples.submission.push(st.rings.submission.occupancy);
      samples.free.push(st.rings.free.occupancy);
      samples.completion.push(producerQueues.reduce((s, q) => s + q.occupancy, 0));
      samples.backlog.push(producerQueues.reduce((s, q) => s + q.overflow.backlog, 0));
      for (const q of producerQueues) cqOcc.get(q.cq)!.push(q.occupancy);
      let parked = 0;
      let parks = 0;
      let chains = 0;
      for (const w of st.workers) {
        const dp = w.parks - (prevParks.get(w.slot) ?? 0);
        if (dp > 0) parked++;
        parks += Math.max(0, dp);
        chains += w.chains;
      }
      const dt = (t - prevT) / 1000;
      samples.parkedWorkers.push(parked);
      samples.workerParks.push(parks);
      samples.chainsPerSec.push(dt > 0 ? Math.round(Math.max(0, chains - prevChains) / dt) : 0);
      prevParks = parksOf(st);
      prevChains = chains;
      prevT = t;
      progress(Math.min(1, t / o.durationMs), chains - chains0);
      return st;
    };

    Atomics.store(ctl, Ctl.GO, 1);
    Atomics.notify(ctl, Ctl.GO);
    sampler = setInterval(sample, intervalMs);
    stopper = setTimeout(() => {
      Atomics.store(ctl, Ctl.STOP, 1);
    }, o.durationMs);
    const done = await Promise.all(producers.map((p) => p.done));
    clearInterval(sampler);
    sampler = undefined;
    // The final snapshot, while the producers' queues are still attached.
    const s1 = sample();
    const elapsedMs = sharedNow() - t0;
    for (const p of producers) p.worker.postMessage({ type: 'close' });
    await Promise.all(producers.map((p) => p.exited));
    closed = true;
    await rt.close();

    const sec = elapsedMs / 1000;
    const queueReport = (q: QueueStats): RingReport => {
      const before = s0.rings.queues.find((x) => x.cq === q.cq) ?? { ...q, pushes: 0, pops: 0 };
      const owner = ownerOf.get(q.cq);
      const r = ringReport(
        'completion',
        owner === undefined ? `completion · queue ${q.cq}` : `completion · producer ${owner}`,
        before as RingCounters,
        q,
        sec,
        cqOcc.get(q.cq) ?? [],
      );
      r.cq = q.cq;
      if (owner !== undefined) r.producer = owner;
      const b0 = (before as QueueStats).overflow?.total ?? 0;
      r.overflow = { total: delta(b0, q.overflow.total), peak: q.overflow.peak };
      return r;
    };
    const completion = s1.rings.queues.filter((q) => ownerOf.has(q.cq)).map(queueReport);
    completion.sort((a, b) => (a.producer ?? 0) - (b.producer ?? 0));
    const workers: WorkerReport[] = s1.workers.map((w) => {
      const b = s0.workers.find((x) => x.slot === w.slot);
      return {
        slot: w.slot,
        threadId: w.threadId,
        chains: delta(b?.chains ?? 0, w.chains),
        atoms: delta(b?.atoms ?? 0, w.atoms),
        parks: delta(b?.parks ?? 0, w.parks),
        spinHits: delta(b?.spinHits ?? 0, w.spinHits),
      };
    });
    const atoms = workers.reduce((s, w) => s + w.atoms, 0);
    const submitted = done.reduce((s, d) => s + d.submitted, 0);
    const completed = done.reduce((s, d) => s + d.completed, 0);
    const result: PointResult = {
      label: c.label,
      ...(c.param === undefined ? {} : { param: c.param, value: c.value! }),
      config: cfg,
      elapsedMs: round3(elapsedMs),
      chains: {
        submitted,
        completed,
        failed: done.reduce((s, d) => s + d.failed, 0),
        perSec: sec > 0 ? completed / sec : 0,
      },
      atoms: { executed: atoms, perSec: sec > 0 ? atoms / sec : 0 },
      rings: {
        submission: ringReport('submission', 'submission', s0.rings.submission, s1.rings.submission, sec, samples.submission),
        free: ringReport('free', 'free', s0.rings.free, s1.rings.free, sec, samples.free),
        completion,
      },
      latency: s1.latency,
      workers,
      producers: done.map((d, p) => ({
        producer: p + 1,
        cq: cqs[p]!,
        submitted: d.submitted,
        completed: d.completed,
        failed: d.failed,
        bursts: d.bursts,
      })),
      samples,
      workerDeaths: delta(s0.workerDeaths, s1.workerDeaths),
    };
    const trace: PointTrace = {
      label: c.label,
      t0,
      cap: perProducer,
      producers: done.map((d) => ({ spans: d.spans, bursts: d.burstSpans, submitted: d.submitted })),
      workers: s1.workers.map((w) => ({ slot: w.slot, threadId: w.threadId })),
    };
    return { result, trace };
  } finally {
    if (sampler !== undefined) clearInterval(sampler);
    if (stopper !== undefined) clearTimeout(stopper);
    if (!closed) {
      Atomics.store(ctl, Ctl.STOP, 1);
      Atomics.store(ctl, Ctl.GO, 1);
      Atomics.notify(ctl, Ctl.GO);
      await Promise.all(producers.map((p) => p.worker.terminate()));
      await rt.close({ force: true });
    }
  }
}
