/**
 * The runtime's shared memory: four SharedArrayBuffers that every thread of one runtime maps.
 *
 *   ctl    control words: shutdown flag, id counter, configuration, completion-queue blocks,
 *          worker slots, then Float64 latency histograms
 *   rings  the submission ring, the free ring, the completion rings
 *   table  the request entries (table.ts; their headers: entry.ts)
 *   arena  the shared heap (atomics-sync's Arena)
 *   policies  the policy table (policy.ts)
 *
 * The creating thread lays them out (SharedState.create); workers and attached threads receive the
 * buffers through postMessage/workerData (setup only) and build their own views (new SharedState).
 * The worker entry (pump.ts) and the caller side (client.ts) both import this file, the request
 * entry's layout and accessors (entry.ts, table.ts), the rings (src/ring) and the interpreter
 * (interp.ts), which both run: a worker whole chains, the caller a chain's SYSLET_SYNC prefix.
 */
import { Arena, CACHE_LINE_WORDS, WORD_BYTES, alignUp, sharedNow, Ring, RingField, WaiterSet, HISTOGRAM_WORDS } from 'atomics-sync';
import { CompletionQueue, CqField } from './completion-queue.js';
import type { ExecViews } from './interp.js';
import { PolicyTable } from './policy.js';
import { TableLayout } from './table.js';

/** Control words (Int32 indices in ctl). */
export const ControlWord = {
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
  /** The runtime's epoch, in whole seconds of sharedNow(): ticks (SharedState.ticks) count from it. */
  EPOCH_S: 3 * CACHE_LINE_WORDS + 12,
  /** Milliseconds an extra worker stays idle before it retires (pool.ts). */
  POOL_IDLE_MS: 3 * CACHE_LINE_WORDS + 13,
  /** Spare workers parked in reserve, ready to be activated (pool.ts). */
  POOL_RESERVE: 3 * CACHE_LINE_WORDS + 14,
  /** Extra workers that retired (went back to reserve or exited). */
  S_POOL_RETIRED: 3 * CACHE_LINE_WORDS + 15,
  /**
   * Parked workers, one bit per worker slot (MAX_WORKER_SLOTS / 32 words, two cache lines): the
   * bitmap of the workers' WaiterSet (atomics-sync); each worker parks on its slot's WorkerWord.PARK.
   */
  PARKED: 4 * CACHE_LINE_WORDS,
  /**
   * Lifecycle (Lifecycle below), advanced only upward by the owning runtime's close(). Attached
   * threads read it to refuse new submissions and to settle what the workers will no longer run.
   */
  LIFECYCLE: 6 * CACHE_LINE_WORDS,
  /** Workers the runtime ended because their chain was stuck in a call past a deadline or cancel. */
  S_STUCK_ENDED: 6 * CACHE_LINE_WORDS + 1,
  /**
   * 1 once Runtime.create() resolved: from then on a new (replacement) worker's pump waits for its
   * WorkerWord.ARMED before it takes requests (see WorkerWord.ARMED).
   */
  ARMING: 6 * CACHE_LINE_WORDS + 2,
  /**
   * 1 while the pool monitor (pool.ts) watches (its 1 ms tick is armed), 0 when it is idle with no
   * timer, waiting (Atomics.waitAsync) on this word. A thread whose submission starts a burst or
   * finds no worker parked, or an extra worker that retires, sets it to 1 and notifies.
   */
  POOL_WATCH: 6 * CACHE_LINE_WORDS + 3,
  /** Warm-up chains that spares ran on a private table before parking, all spares together (pump.ts). */
  S_POOL_WARMED: 6 * CACHE_LINE_WORDS + 4,
  /**
   * Submissions (all threads) waiting in a client's FIFO for a free slot: close() waits for 0. Its
   * own cache line: submitters update it while workers read the configuration line above.
   */
  WAITING: 7 * CACHE_LINE_WORDS,
  /**
   * Clients (all threads) with submissions outstanding: each adds 1 when its reaper starts and
   * subtracts 1 when it stops (client.ts). The owner's periodic checks (the stuck-chain check, the
   * pool monitor) stop once they see 0 and nothing running, so an idle runtime has no timer.
   */
  BUSY: 7 * CACHE_LINE_WORDS + 1,
  /**
   * Bumped and notified by a client on another thread whose add to BUSY found 0: the owner waits on
   * it with Atomics.waitAsync (no timeout, no handle) to restart its checks (workers.ts).
   */
  BUSY_EPOCH: 7 * CACHE_LINE_WORDS + 2,
  /** Completion-queue blocks start here, CqField.WORDS each. */
  CQ_BLOCKS: 8 * CACHE_LINE_WORDS,
} as const;

/** Worker slot words, relative to the slot's base. */
export const WorkerWord = {
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
  /** 1 once this worker counts in ControlWord.WORKERS_LIVE (its pump started). */
  LIVE: 10,
  /** The word this worker parks on (its eventcount in the workers' WaiterSet). */
  PARK: 11,
  /**
   * Busy since: the tick (SharedState.ticks) this worker entered a call that may block (a
   * system-call atom, an intercepted call of a threadlet), 0 outside one. Pure JS never sets it,
   * so CPU-bound work never looks blocked. Read by the pool monitor (pool.ts).
   */
  BLOCKED_SINCE: 12,
  /** WorkerRole. */
  ROLE: 13,
  /** The worker's kernel thread id (Linux; 0 elsewhere): the pool reads its scheduler state. */
  OS_TID: 14,
  /**
   * Set to 1 by the runtime when piscina reports the worker ready ('workerCreate'). piscina never
   * replaces workers again once one dies before it was reported ready, so a replacement pump must
   * not take a request (which may kill it: a fault, process.exit() in a threadlet) before that.
   */
  ARMED: 15,
  WORDS: CACHE_LINE_WORDS,
} as const;

export const WorkerState = { FREE: 0, RUNNING: 1, EXITED: 2 } as const;

/**
 * What a worker is to the pool (pool.ts): one of the base pool (piscina's); a spare parked in
 * reserve, not woken by submitters; an extra, activated from reserve because every other worker was
 * blocked while work waited, which retires when idle.
 */
export const WorkerRole = {
  BASE: 0,
  RESERVE: 1,
  EXTRA: 2,
  /**
   * A spare the monitor started, from its slot claim until it parks in reserve (its warm-up runs
   * then): not of the pool yet, not ready to activate.
   */
  STARTING: 3,
} as const;

/** Ticks per millisecond of SharedState.ticks(): an int32 of them wraps after 9 hours. */
export const TICKS_PER_MS = 64;

/** Values of ControlWord.LIFECYCLE, in order. */
export const Lifecycle = {
  OPEN: 0,
  /** close() began: new submissions are refused, accepted ones still run. */
  DRAINING: 1,
  /** close({ force: true }): new submissions refused, accepted ones cancelled. */
  FORCED: 2,
  /** The workers are gone: a request still queued is completed with -ECANCELED by whoever sees it. */
  CLOSED: 3,
} as const;

const CTL_MAGIC = 0x5359534c; // "SYSL"

/** Most worker slots a runtime can have: one bit each in ControlWord.PARKED. */
export const MAX_WORKER_SLOTS = 2 * CACHE_LINE_WORDS * 32;

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
  /** Milliseconds an extra worker stays idle before it retires. */
  extraIdleMs: number;
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
  return ControlWord.CQ_BLOCKS + q * CqField.WORDS + CqField.STATE;
}

function ctlGeometry(numCqs: number, maxWorkers: number) {
  const workersAt = ControlWord.CQ_BLOCKS + numCqs * CqField.WORDS;
  const words = workersAt + maxWorkers * WorkerWord.WORDS;
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
  /**
   * Where idle workers park: a WaiterSet over the worker slots, so a submitter wakes the
   * lowest-numbered parked worker (its counters are the submission ring's consumer counters).
   */
  readonly workerPark: WaiterSet;
  readonly numCqs: number;
  readonly maxWorkers: number;
  readonly workersAt: number;
  readonly histAt: number;
  readonly #epochMs: number;

  /** Lay out a new runtime's memory. */
  static create(cfg: SharedConfig): SharedState {
    if (cfg.maxWorkers > MAX_WORKER_SLOTS) {
      throw new RangeError(`syslet: ${cfg.maxWorkers} worker slots asked for, at most ${MAX_WORKER_SLOTS}`);
    }
    const g = ctlGeometry(cfg.numCqs, cfg.maxWorkers);
    const ctlSab = new SharedArrayBuffer(g.bytes);
    const ctl = new Int32Array(ctlSab);
    ctl[ControlWord.TABLE_CAPACITY] = cfg.tableCapacity;
    ctl[ControlWord.SLOT_BYTES] = cfg.slotBytes;
    ctl[ControlWord.NUM_CQS] = cfg.numCqs;
    ctl[ControlWord.CQ_CAPACITY] = cfg.cqCapacity;
    ctl[ControlWord.MAX_WORKERS] = cfg.maxWorkers;
    ctl[ControlWord.WORKER_SPIN_US] = cfg.workerSpinUs;
    ctl[ControlWord.EPOCH_S] = Math.floor(sharedNow() / 1000);
    ctl[ControlWord.POOL_IDLE_MS] = cfg.extraIdleMs;
    for (let q = 0; q < cfg.numCqs; q++) {
      const b = ControlWord.CQ_BLOCKS + q * CqField.WORDS;
      ctl[b + CqField.OVF_HEAD] = -1;
      ctl[b + CqField.OVF_TAIL] = -1;
    }
    for (let w = 0; w < cfg.maxWorkers; w++) ctl[g.workersAt + w * WorkerWord.WORDS + WorkerWord.CURRENT] = -1;

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
    Atomics.store(ctl, ControlWord.RUNTIME_KEY, (Math.random() * 0x7fffffff) | 1);
    Atomics.store(ctl, ControlWord.MAGIC, CTL_MAGIC);
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
    if (Atomics.load(this.ctl, ControlWord.MAGIC) !== CTL_MAGIC) throw new Error('not a syslet runtime control block');
    const tableCapacity = this.ctl[ControlWord.TABLE_CAPACITY]!;
    const slotBytes = this.ctl[ControlWord.SLOT_BYTES]!;
    this.numCqs = this.ctl[ControlWord.NUM_CQS]!;
    this.maxWorkers = this.ctl[ControlWord.MAX_WORKERS]!;
    const g = ctlGeometry(this.numCqs, this.maxWorkers);
    this.workersAt = g.workersAt;
    this.#epochMs = this.ctl[ControlWord.EPOCH_S]! * 1000;
    this.histAt = g.histAt;
    this.ctl64 = new Float64Array(h.ctl);
    this.layout = new TableLayout(tableCapacity, slotBytes);
    this.i32 = new Int32Array(h.table);
    this.f64 = new Float64Array(h.table);
    this.buf = Buffer.from(h.table);
    this.arena = new Arena(h.arena);
    this.policies = new PolicyTable(h.policies);
    const rg = ringsGeometry(tableCapacity, this.numCqs, this.ctl[ControlWord.CQ_CAPACITY]!);
    this.sq = new Ring(h.rings, rg.sq);
    this.fq = new Ring(h.rings, rg.fq);
    this.workerPark = new WaiterSet({
      words: this.ctl,
      bitmap: ControlWord.PARKED,
      waiters: this.maxWorkers,
      first: g.workersAt + WorkerWord.PARK,
      stride: WorkerWord.WORDS,
      counts: this.sq.i32,
      sleepers: RingField.C_SLEEPERS,
      parks: RingField.S_CONSUMER_PARKS,
      wakes: RingField.S_CONSUMER_WAKES,
    });
    this.cqs = [];
    for (let q = 0; q < this.numCqs; q++) {
      const ring = new Ring(h.rings, rg.cq0 + q * rg.cqBytes);
      this.cqs.push(new CompletionQueue(ring, this.ctl, ControlWord.CQ_BLOCKS + q * CqField.WORDS, this.i32, this.layout));
    }
  }

  /** First word of worker slot `w`. */
  workerBase(w: number): number {
    return this.workersAt + w * WorkerWord.WORDS;
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
      const id = (Atomics.add(this.ctl, ControlWord.NEXT_ID, 1) + 1) >>> 0;
      if (id !== 0) return id;
    }
  }

  /**
   * Now, in ticks (1/TICKS_PER_MS ms) since the runtime's epoch, as an int32 that is never 0 (0
   * means "not blocked" in WorkerWord.BLOCKED_SINCE). Compare two with `(a - b) | 0`: exact for spans under
   * 9 hours, across the wrap too.
   */
  ticks(): number {
    return ((sharedNow() - this.#epochMs) * TICKS_PER_MS) | 0 || 1;
  }

  shutdownState(): number {
    return Atomics.load(this.ctl, ControlWord.SHUTDOWN);
  }
}
