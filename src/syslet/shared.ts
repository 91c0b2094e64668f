/**
 * The runtime's shared memory: four SharedArrayBuffers that every thread of one runtime maps.
 *
 *   ctl    control words: shutdown flag, id counter, configuration, completion-queue blocks,
 *          worker slots, then Float64 latency histograms
 *   rings  the submission ring, the free ring, the completion rings
 *   table  the request entries (table.ts)
 *   arena  the shared heap (ring/arena.ts)
 *   policies  the policy table (policy.ts)
 *
 * The creating thread lays them out (SharedState.create); workers and attached threads receive the
 * buffers through postMessage/workerData (setup only) and build their own views (new SharedState).
 * This file and table.ts are all that the worker entry and the caller side share.
 */
import { Arena } from '../ring/arena.js';
import { CACHE_LINE_WORDS, WORD_BYTES, alignUp } from '../ring/layout.js';
import { Ring } from '../ring/mpmc.js';
import { HISTOGRAM_WORDS } from '../ring/stats.js';
import { CompletionQueue, CqField } from '../completion/queue.js';
import type { ExecViews } from './interp.js';
import { PolicyTable } from './policy.js';
import { TableLayout } from './table.js';

/** Control words (Int32 indices in ctl). */
export const C = {
  MAGIC: 0,
  /** 1 once close() began: pumps finish what is queued, then exit. 2: exit now. */
  SHUTDOWN: 1,
  /**
   * A random nonzero number naming this runtime, written once by create(): threads that attached
   * to it report to the recorder under it (record/recorder.ts).
   */
  RUNTIME_KEY: 2,
  /** Request id counter (its own cache line: every submit increments it). */
  NEXT_ID: CACHE_LINE_WORDS,
  /** Pumps registered and running; waited on by Runtime.create(). */
  WORKERS_LIVE: 2 * CACHE_LINE_WORDS,
  /** Configuration, written once by create(). */
  TABLE_CAPACITY: 3 * CACHE_LINE_WORDS,
  SLOT_BYTES: 3 * CACHE_LINE_WORDS + 1,
  NUM_CQS: 3 * CACHE_LINE_WORDS + 2,
  CQ_CAPACITY: 3 * CACHE_LINE_WORDS + 3,
  MAX_WORKERS: 3 * CACHE_LINE_WORDS + 4,
  WORKER_SPIN_US: 3 * CACHE_LINE_WORDS + 5,
  /** Fault injection (testing recovery): per-million chances per request, and a seed. */
  FAULT_PUMP_ERROR: 3 * CACHE_LINE_WORDS + 6,
  FAULT_EXIT: 3 * CACHE_LINE_WORDS + 7,
  FAULT_OOM: 3 * CACHE_LINE_WORDS + 8,
  FAULT_SEED: 3 * CACHE_LINE_WORDS + 9,
  /** Workers that died and were recovered; requests failed with -EOWNERDEAD because of it. */
  S_WORKER_DEATHS: 3 * CACHE_LINE_WORDS + 10,
  S_OWNER_DEAD: 3 * CACHE_LINE_WORDS + 11,
  /** Completion-queue blocks start here, CqField.WORDS each. */
  CQ_BLOCKS: 4 * CACHE_LINE_WORDS,
} as const;

/** Worker slot words, relative to the slot's base. */
export const W = {
  /** WorkerState. */
  STATE: 0,
  THREAD_ID: 1,
  /** Entry being run (set before claiming it), or -1. */
  CURRENT: 2,
  CHAINS: 3,
  ATOMS: 4,
  PARKS: 5,
  /** Times it spun and found work before parking. */
  SPIN_HITS: 6,
  /** postMessage calls this thread made (counted only with SYSLET_COUNT_MESSAGES=1). */
  MESSAGES: 7,
  /** The id of the request in CURRENT (a dead worker's entry may have been recycled since). */
  CURRENT_ID: 8,
  /** 1 while this worker holds the submission ring's spinner role. */
  SPINNING: 9,
  /** 1 once this worker counts in C.WORKERS_LIVE (its pump started). */
  LIVE: 10,
  WORDS: CACHE_LINE_WORDS,
} as const;

export const WorkerState = { FREE: 0, RUNNING: 1, EXITED: 2 } as const;

const CTL_MAGIC = 0x5359534c; // "SYSL"

/** Histograms per worker slot: submit-to-start, start-to-complete. Per queue: complete-to-reap. */
export const H_SUBMIT_TO_START = 0;
export const H_START_TO_COMPLETE = 1;

export interface SharedConfig {
  tableCapacity: number;
  slotBytes: number;
  numCqs: number;
  cqCapacity: number;
  maxWorkers: number;
  arenaBytes: number;
  workerSpinUs: number;
}

/** What crosses to another thread (structured-clone safe). */
export interface SharedHandles {
  ctl: SharedArrayBuffer;
  rings: SharedArrayBuffer;
  table: SharedArrayBuffer;
  arena: SharedArrayBuffer;
  policies: SharedArrayBuffer;
}

/** The ctl word that says whether completion queue `q` is claimed. */
function cqStateWord(q: number): number {
  return C.CQ_BLOCKS + q * CqField.WORDS + CqField.STATE;
}

function ctlGeometry(numCqs: number, maxWorkers: number) {
  const workersAt = C.CQ_BLOCKS + numCqs * CqField.WORDS;
  const words = workersAt + maxWorkers * W.WORDS;
  const histAt = alignUp(words * WORD_BYTES, 64) / 8; // Float64 index
  const histWords = (maxWorkers * 2 + numCqs) * HISTOGRAM_WORDS;
  return { workersAt, histAt, bytes: (histAt + histWords) * 8 };
}

function ringsGeometry(tableCapacity: number, numCqs: number, cqCapacity: number) {
  const sq = 0;
  const fq = alignUp(Ring.bytesFor(tableCapacity), 64);
  const cq0 = fq + alignUp(Ring.bytesFor(tableCapacity), 64);
  const cqBytes = alignUp(Ring.bytesFor(cqCapacity), 64);
  return { sq, fq, cq0, cqBytes, bytes: cq0 + numCqs * cqBytes };
}

export class SharedState implements ExecViews {
  readonly handles: SharedHandles;
  readonly ctl: Int32Array;
  readonly ctl64: Float64Array;
  readonly layout: TableLayout;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly buf: Buffer;
  readonly arena: Arena;
  readonly policies: PolicyTable;
  /** Submission ring: entry indices for workers. */
  readonly sq: Ring;
  /** Free ring: entry indices nobody uses. */
  readonly fq: Ring;
  readonly cqs: CompletionQueue[];
  readonly numCqs: number;
  readonly maxWorkers: number;
  readonly workersAt: number;
  readonly histAt: number;

  /** Lay out a new runtime's memory. */
  static create(cfg: SharedConfig): SharedState {
    const g = ctlGeometry(cfg.numCqs, cfg.maxWorkers);
    const ctlSab = new SharedArrayBuffer(g.bytes);
    const ctl = new Int32Array(ctlSab);
    ctl[C.TABLE_CAPACITY] = cfg.tableCapacity;
    ctl[C.SLOT_BYTES] = cfg.slotBytes;
    ctl[C.NUM_CQS] = cfg.numCqs;
    ctl[C.CQ_CAPACITY] = cfg.cqCapacity;
    ctl[C.MAX_WORKERS] = cfg.maxWorkers;
    ctl[C.WORKER_SPIN_US] = cfg.workerSpinUs;
    for (let q = 0; q < cfg.numCqs; q++) {
      const b = C.CQ_BLOCKS + q * CqField.WORDS;
      ctl[b + CqField.OVF_HEAD] = -1;
      ctl[b + CqField.OVF_TAIL] = -1;
    }
    for (let w = 0; w < cfg.maxWorkers; w++) ctl[g.workersAt + w * W.WORDS + W.CURRENT] = -1;

    const rg = ringsGeometry(cfg.tableCapacity, cfg.numCqs, cfg.cqCapacity);
    const ringsSab = new SharedArrayBuffer(rg.bytes);
    Ring.create(cfg.tableCapacity, 1, ringsSab, rg.sq);
    const fq = Ring.create(cfg.tableCapacity, 1, ringsSab, rg.fq);
    for (let q = 0; q < cfg.numCqs; q++) Ring.create(cfg.cqCapacity, 1, ringsSab, rg.cq0 + q * rg.cqBytes);
    // Every entry starts free.
    for (let i = 0; i < cfg.tableCapacity; i++) fq.tryPush(i);

    const layout = new TableLayout(cfg.tableCapacity, cfg.slotBytes);
    const tableSab = new SharedArrayBuffer(layout.totalBytes);
    const arena = Arena.create(cfg.arenaBytes);
    // Published with the rest of the block by the MAGIC store below (other threads get the buffer
    // through postMessage after it).
    Atomics.store(ctl, C.RUNTIME_KEY, (Math.random() * 0x7fffffff) | 1);
    Atomics.store(ctl, C.MAGIC, CTL_MAGIC);
    return new SharedState({
      ctl: ctlSab,
      rings: ringsSab,
      table: tableSab,
      arena: arena.sab,
      policies: PolicyTable.create().sab,
    });
  }

  /** Map a runtime's memory laid out by create() (in this thread or another). */
  constructor(h: SharedHandles) {
    this.handles = h;
    this.ctl = new Int32Array(h.ctl);
    if (Atomics.load(this.ctl, C.MAGIC) !== CTL_MAGIC) throw new Error('not a syslet runtime control block');
    const tableCapacity = this.ctl[C.TABLE_CAPACITY]!;
    const slotBytes = this.ctl[C.SLOT_BYTES]!;
    this.numCqs = this.ctl[C.NUM_CQS]!;
    this.maxWorkers = this.ctl[C.MAX_WORKERS]!;
    const g = ctlGeometry(this.numCqs, this.maxWorkers);
    this.workersAt = g.workersAt;
    this.histAt = g.histAt;
    this.ctl64 = new Float64Array(h.ctl);
    this.layout = new TableLayout(tableCapacity, slotBytes);
    this.i32 = new Int32Array(h.table);
    this.f64 = new Float64Array(h.table);
    this.buf = Buffer.from(h.table);
    this.arena = new Arena(h.arena);
    this.policies = new PolicyTable(h.policies);
    const rg = ringsGeometry(tableCapacity, this.numCqs, this.ctl[C.CQ_CAPACITY]!);
    this.sq = new Ring(h.rings, rg.sq);
    this.fq = new Ring(h.rings, rg.fq);
    this.cqs = [];
    for (let q = 0; q < this.numCqs; q++) {
      const ring = new Ring(h.rings, rg.cq0 + q * rg.cqBytes);
      this.cqs.push(new CompletionQueue(ring, this.ctl, C.CQ_BLOCKS + q * CqField.WORDS, this.i32, this.layout));
    }
  }

  /** First word of worker slot `w`. */
  workerBase(w: number): number {
    return this.workersAt + w * W.WORDS;
  }

  /** Float64 index of worker slot `w`'s histogram `which`. */
  workerHist(w: number, which: number): number {
    return this.histAt + (w * 2 + which) * HISTOGRAM_WORDS;
  }

  /** Float64 index of completion queue `q`'s complete-to-reap histogram. */
  cqHist(q: number): number {
    return this.histAt + (this.maxWorkers * 2 + q) * HISTOGRAM_WORDS;
  }

  /** Claim a free completion queue; -1 when all are taken. Its reaping histogram starts empty. */
  claimCq(): number {
    for (let q = 0; q < this.numCqs; q++) {
      if (Atomics.compareExchange(this.ctl, cqStateWord(q), 0, 1) === 0) {
        const h = this.cqHist(q);
        this.ctl64.fill(0, h, h + HISTOGRAM_WORDS);
        return q;
      }
    }
    return -1;
  }

  releaseCq(q: number): void {
    Atomics.store(this.ctl, cqStateWord(q), 0);
  }

  /** Whether completion queue `q` is claimed (by a thread or a kqueue). */
  cqInUse(q: number): boolean {
    return Atomics.load(this.ctl, cqStateWord(q)) !== 0;
  }

  /** A fresh request id: u32, never 0. */
  nextId(): number {
    for (;;) {
      const id = (Atomics.add(this.ctl, C.NEXT_ID, 1) + 1) >>> 0;
      if (id !== 0) return id;
    }
  }

  shutdownState(): number {
    return Atomics.load(this.ctl, C.SHUTDOWN);
  }
}
