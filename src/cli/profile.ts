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
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  Runtime,
  sharedNow,
  type RuntimeStats,
  type OpKind,
  type PointConfig,
  type PointResult,
  type PointTrace,
  type ProfileResult,
  type SweepParam,
} from '../index.js';
import { makeTempDir } from './process.js';
import { delta, machineInfo, RingSampler } from '../record/index.js';
import { Ctl, type ProducerData, type ProducerDone, type ProducerMessage } from './profile-protocol.js';
import { round3 } from './report/format.js';

// The result shape lives in record/result.ts (the recorder produces it too; the package exports it);
// named here as well for the tests that import it from this file.
export { machineInfo, SWEEP_PARAMS } from '../record/index.js';
export type {
  MachineInfo,
  OpKind,
  PointConfig,
  PointResult,
  ProducerReport,
  ProfileResult,
  RingReport,
  Samples,
  SweepParam,
  WorkerReport,
} from '../index.js';

const PRODUCER_FILE = fileURLToPath(new URL('./profile-worker.js', import.meta.url));

export const OP_KINDS: readonly OpKind[] = ['nop', 'stat', 'read'];


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
    // A point measures the pool it names: a fixed one (no spare, no growth).
    maxWorkers: cfg.workers,
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
  let sampleTimer: NodeJS.Timeout | undefined;
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

    const sampler = new RingSampler(() => rt.stats(), (q) => ownerOf.has(q), intervalMs);
    const t0 = sampler.t0;
    const sample = (): RuntimeStats => {
      const st = sampler.sample();
      const t = sampler.samples.t[sampler.samples.t.length - 1]!;
      progress(Math.min(1, t / o.durationMs), sampler.chains);
      return st;
    };

    Atomics.store(ctl, Ctl.GO, 1);
    Atomics.notify(ctl, Ctl.GO);
    sampleTimer = setInterval(sample, intervalMs);
    stopper = setTimeout(() => {
      Atomics.store(ctl, Ctl.STOP, 1);
    }, o.durationMs);
    const done = await Promise.all(producers.map((p) => p.done));
    clearInterval(sampleTimer);
    sampleTimer = undefined;
    // The final snapshot, while the producers' queues are still attached.
    const s1 = sample();
    const elapsedMs = sharedNow() - t0;
    for (const p of producers) p.worker.postMessage({ type: 'close' });
    await Promise.all(producers.map((p) => p.exited));
    closed = true;
    await rt.close();

    const sec = elapsedMs / 1000;
    const s0 = sampler.first;
    const { submission, free, completion, workers } = sampler.report(s1, elapsedMs, (q) => {
      const owner = ownerOf.get(q);
      return owner === undefined ? { name: `completion · queue ${q}` } : { name: `completion · producer ${owner}`, producer: owner };
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
      rings: { submission, free, completion },
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
      samples: sampler.samples,
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
    if (sampleTimer !== undefined) clearInterval(sampleTimer);
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
