/**
 * The result shape of a ring profile, shared by `syslet profile` (a synthetic workload, cli/profile.ts),
 * the recorder (a program's own runtime, record/recorder.ts) and the report renderers
 * (cli/report/): the terminal report, the --json figures, the HTML page and the Chrome trace.
 *
 * A ProfileResult has one PointResult per run: a sweep point of `syslet profile`, or one recorded
 * runtime. What only the trace needs (per-chain spans) travels beside it as a PointTrace.
 */
import os from 'node:os';
import type { RingCounters, LatencySummary } from 'atomics-sync';

/** One atom of a synthetic chain (syslet profile --mix). */
export type OpKind = 'nop' | 'stat' | 'read';

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
  /** Recordings: the submitting thread ("main thread", "thread 3"); a synthetic producer has none. */
  thread?: string;
  cq: number;
  submitted: number;
  completed: number;
  /** Chains that ended with an error: a status other than 'done', or a negative result (-errno). */
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
  /**
   * Workers taking work at each sample: the base pool and the extras that joined because every
   * worker was blocked (spares parked in reserve not counted). Absent in results made before it was.
   */
  poolSize?: number[];
}

/** A change of the pool's size during a recording (rt.stats().pool.history). */
export interface PoolChange {
  /** Milliseconds from the start of the samples (Samples.t's origin). */
  t: number;
  change: 'grew' | 'retired' | 'at bound';
  /** Workers taking work afterwards. */
  size: number;
  /** Why, in words. */
  reason: string;
}

/** The pool of a recorded runtime that owns its workers (not one attached from another thread). */
export interface PoolReport {
  /** The base pool (option workers) and the bound (option maxWorkers). */
  base: number;
  max: number;
  /** During the recording: times the pool grew, an extra retired, growth was refused at the bound. */
  grew: number;
  retired: number;
  atBound: number;
  /** Those changes, oldest first (of the last 64 the runtime keeps). */
  changes: PoolChange[];
}

export interface PointResult {
  /** "producers=2" when sweeping, else "run". */
  label: string;
  param?: SweepParam;
  value?: number;
  config: PointConfig;
  /** From GO to the last producer's drained report. */
  elapsedMs: number;
  /** `failed`: chains that ended with an error (a status other than 'done', or a negative result). */
  chains: { submitted: number; completed: number; failed: number; perSec: number };
  atoms: { executed: number; perSec: number };
  rings: { submission: RingReport; free: RingReport; completion: RingReport[] };
  /** Nanoseconds, from the runtime's log-bucket histograms (every chain sampled). */
  latency: { submitToStart: LatencySummary; startToComplete: LatencySummary; completeToReap: LatencySummary };
  workers: WorkerReport[];
  producers: ProducerReport[];
  samples: Samples;
  workerDeaths: number;
  /** Recordings of a runtime that owns its workers: how its pool grew and shrank, and why. */
  pool?: PoolReport;
  /** Recordings: which runtime of the program this point is. */
  runtime?: RecordedRuntime;
}

/** A runtime the recorder watched (record/recorder.ts). */
export interface RecordedRuntime {
  /** 1-based, in the order the program created its runtimes (within the recording process). */
  index: number;
  /** Joined from another thread with Runtime.attach (its workers belong to another runtime). */
  attached: boolean;
  /** When the recording started and stopped, ms since the process started (performance.now()). */
  fromMs: number;
  toMs: number;
  /** Why it stopped: rec.stop(), rt.close(), or the process exiting. */
  stoppedBy: 'stop' | 'close' | 'exit';
  /** Latency sampling while recording (1: every chain) and what the runtime had before and after. */
  latencySample: 1;
  latencySampleBefore: number;
}

/** The program a recording watched (syslet record, node --import syslet/profile). */
export interface RecordedProgram {
  /** process.argv: the node binary, the script, its arguments. */
  argv: string[];
  /** Node options the program ran with (process.execArgv). */
  execArgv: string[];
  /** The command line, quoted for a POSIX shell. */
  command: string;
  pid: number;
  cwd: string;
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
  /** 'syslet record': the points are the runtimes of a recorded program (`program`). */
  tool: 'syslet profile' | 'syslet record';
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
  /** Recordings: the program recorded. */
  program?: RecordedProgram;
}

// ---- what only the trace needs -------------------------------------------------------------------

/** Fields of one recorded chain in a PointTrace's `spans` (a flat Float64Array; ms from sharedNow()). */
export const Span = {
  /** The submission's request id (Submission.id). */
  ID: 0,
  /**
   * Submitted, started on a worker, completed, reaped by the submitting thread: ms of sharedNow().
   * A chain no worker ran (it ended inline, or was cancelled while queued): STARTED is 0, the
   * others the time it settled.
   */
  SUBMITTED: 1,
  STARTED: 2,
  COMPLETED: 3,
  REAPED: 4,
  /** The worker slot that ran it; -1: none. */
  WORKER: 5,
  /** Numbers per chain. */
  FIELDS: 6,
} as const;

/** Fields of one recorded burst (the synchronous submit loop of a profile producer). */
export const Burst = {
  /** Before its first submit and after its last: ms of sharedNow(). */
  START: 0,
  END: 1,
  /** Chains it submitted. */
  CHAINS: 2,
  /** Numbers per burst. */
  FIELDS: 3,
} as const;

/**
 * A threadlet call on a recorded thread (ms from sharedNow()). `inline`: ran and finished on the
 * calling thread, from `start` to `end`. `migrated`: ran inline from `start` to `end`, where its
 * call `movedAt` would block, then went through the runtime (`submitted`..`reaped`), the worker
 * replaying its `journaled` calls from `started` to `replayed`. `worker`: started on a worker.
 * The worker fields are 0 when no worker ran it (it failed or was cancelled first).
 */
export interface ThreadletSpan {
  name: string;
  placement: 'inline' | 'migrated' | 'worker';
  start: number;
  end: number;
  movedAt: string | undefined;
  reason: string | undefined;
  journaled: number;
  submitted: number;
  started: number;
  replayed: number;
  completed: number;
  reaped: number;
  worker: number;
  /** 'fulfilled' or 'rejected'. */
  outcome: string;
}

/** A thread that submitted: a profile producer, or a recorded program's thread. */
export interface SubmitterTrace {
  /** The track's name. @default `producer N` */
  name?: string;
  spans: Float64Array;
  bursts: Float64Array;
  submitted: number;
  threadlets?: ThreadletSpan[];
}

/** What the trace needs of one point besides its PointResult. */
export interface PointTrace {
  label: string;
  /** sharedNow() at the start, in ms. */
  t0: number;
  /** Spans each producer could record. */
  cap: number;
  producers: SubmitterTrace[];
  workers: { slot: number; threadId: number }[];
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

export function delta(a: number, b: number): number {
  return Math.max(0, b - a);
}

/** A ring's figures between two snapshots of its counters. */
export function ringReport(
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
