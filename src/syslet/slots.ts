/**
 * Worker slots: one block of W words in ctl per worker thread (shared.ts, W), and the one owner of
 * their life. tokio's blocking pool is the model: the pool's shared state lives behind one object,
 * and every thread that touches it does so through that object's verbs.
 *
 * A slot's life (WorkerWord.STATE, WorkerState):
 *
 *   FREE ──claim (the worker's pump, CAS)──► RUNNING ──exit (the pump returned)──► EXITED
 *     ▲                                        │  │
 *     ├──────── recover (the thread died) ◄────┘  └── endStuck (the owner ended its chain) ──► EXITED
 *     ├──────── free (an extra retired, pump) ◄──────────────────────────────────────────────────┘
 *     └──────── zombieExited (the ended thread is gone) ◄── EXITED
 *
 * and, inside RUNNING, whether the worker counts in ControlWord.WORKERS_LIVE (WorkerWord.LIVE: its pump loop runs),
 * its role (WorkerWord.ROLE: base, a spare in reserve, an extra), and whether it may take requests yet
 * (WorkerWord.ARMED). Both sides of every pairing on these words are in this file: the worker's (pump.ts)
 * and the owner's (the runtime's thread, workers.ts; the pool monitor, pool.ts). The per-request
 * words (WorkerWord.CURRENT, WorkerWord.SPINNING, WorkerWord.BLOCKED_SINCE, the counters) are written by the pump's hot path
 * and read here.
 *
 * "Slot" here means a worker slot only; a request's entry in the table is an entry (table.ts).
 */
import { HistogramSnapshot, RingField, sharedNow } from 'atomics-sync';
import { errno } from './errno.js';
import { ControlWord, H_START_TO_COMPLETE, H_SUBMIT_TO_START, Lifecycle, WorkerWord, WorkerRole, WorkerState, type SharedState } from './shared.js';
import {
  EntryState,
  RequestKind,
  Status,
  entryCancelled,
  entryEnd,
  entryFieldsMake,
  entryId,
  entryPost,
  entryRead,
  entryState,
  entryStateMove,
  entryStateSet,
} from './entry.js';

/** One worker slot in rt.stats().workers. */
export interface WorkerStats {
  slot: number;
  threadId: number;
  /** 'spare': started, parked in reserve until the pool grows (it takes no work until then). */
  state: 'running' | 'spare' | 'exited';
  /** 'base': of the base pool; 'extra': joined because the others were blocked (retires when idle). */
  role: 'base' | 'extra';
  chains: number;
  atoms: number;
  parks: number;
  spinHits: number;
  /** postMessage calls the worker made; counted only when SYSLET_COUNT_MESSAGES=1 (diagnostic). */
  messages: number;
}

/** What stats() reports of the slots: each slot in use, and the latency its workers recorded. */
export interface SlotStats {
  workers: WorkerStats[];
  /** Nanoseconds from submission to a worker's start, over every slot in use. */
  submitToStart: HistogramSnapshot;
  /** Nanoseconds from a worker's start to its completion, over every slot in use. */
  startToComplete: HistogramSnapshot;
}

/**
 * Replacements waiting to be armed wake at least this often; a parked base worker or spare whose
 * own event loop has something pending (a timer a threadlet left, say) too (parkSlice). With
 * nothing pending those park without a timeout (an idle pool costs no wake-ups: issue 14).
 */
export const PARK_SLICE_MS = 1000;

/** Handles every pump worker has (piscina's ports; a request Node keeps open): nothing to run. */
const QUIET_RESOURCES = new Set(['MessagePort', 'CloseReq']);

/**
 * How long a parked base worker or spare may sleep, in ms: PARK_SLICE_MS when this thread's event
 * loop has work pending (an active resource other than QUIET_RESOURCES), else Infinity (no bound).
 */
export function parkSlice(): number {
  for (const r of process.getActiveResourcesInfo()) if (!QUIET_RESOURCES.has(r)) return PARK_SLICE_MS;
  return Infinity;
}

/**
 * The entry verbs the owner's side needs (recover, zombieExited): given by the owner (workers.ts)
 * so that a worker, whose pump makes its own WorkerSlots, loads none of the submitting side.
 */
export interface SlotEntries {
  /**
   * A dead worker held entry `idx`: complete it with -EOWNERDEAD unless it completed already.
   * True when this call completed it.
   */
  ownerDead(idx: number): boolean;
  /** Give back the arena memory entry `idx` holds (its thread is gone and it was reaped). */
  release(idx: number): void;
}

/** A worker's WorkerSlots: it never recovers a slot. */
/** The state of an entry whose worker is stuck in one of its calls (ended by endStuck). */
const STUCK_FROM = [EntryState.RUNNING] as const;

const NO_ENTRIES: SlotEntries = {
  ownerDead: () => {
    throw new Error('syslet: WorkerSlots.recover runs on the owner side only');
  },
  release: () => {
    throw new Error('syslet: WorkerSlots.zombieExited runs on the owner side only');
  },
};

/** What one look at the worker slots found (WorkerSlots.census). Counts of workers. */
export interface SlotCensus {
  /** Taking work (WorkerWord.LIVE). */
  live: number;
  /** Live, of the base pool (WorkerRole.BASE). */
  base: number;
  /** Live and inside a request. */
  running: number;
  /** Live and inside a stamped call (WorkerWord.BLOCKED_SINCE) for at least the threshold. */
  blocked: number;
  /** Live, inside a request and not blocked that long: computing. */
  busy: number;
  /** Extras activated from reserve and not taking work yet. */
  joining: number;
}

/** A SlotCensus of zeros, for a caller to reuse (census() overwrites every field). */
export function slotCensusMake(): SlotCensus {
  return { live: 0, base: 0, running: 0, blocked: 0, busy: 0, joining: 0 };
}

export class WorkerSlots {
  readonly #s: SharedState;
  readonly #ctl: Int32Array;
  readonly #entries: SlotEntries;
  /** The header of an entry a check reads (entryRead; reused). */
  readonly #entry = entryFieldsMake();
  /** Owner only: threads piscina reported ready whose pump had not claimed a slot yet (see arm). */
  readonly #unarmed = new Set<number>();

  constructor(s: SharedState, entries: SlotEntries = NO_ENTRIES) {
    this.#s = s;
    this.#ctl = s.ctl;
    this.#entries = entries;
  }

  /** Slots there are (option maxWorkers and room for replacements). */
  get capacity(): number {
    return this.#s.maxWorkers;
  }

  // ---- the worker's side (pump.ts) --------------------------------------------------------------

  /**
   * Claim a free slot for this thread: base workers from the bottom, spares from the top, so that
   * extras sit above the base pool and the lowest-first wake-up (WaiterSet) leaves them idle first.
   * Returns the slot, or -1 when none is free. The slot starts unarmed, idle and of the base pool.
   */
  claim(spare: boolean, threadId: number, osTid: number): number {
    const ctl = this.#ctl;
    const n = this.#s.maxWorkers;
    for (let k = 0; k < n; k++) {
      const w = spare ? n - 1 - k : k;
      const b = this.#s.workerBase(w);
      // Pairs with the CASes and stores that free a slot (recover, free, zombieExited).
      if (Atomics.compareExchange(ctl, b + WorkerWord.STATE, WorkerState.FREE, WorkerState.RUNNING) !== WorkerState.FREE) continue;
      Atomics.store(ctl, b + WorkerWord.ARMED, 0);
      ctl[b + WorkerWord.THREAD_ID] = threadId;
      ctl[b + WorkerWord.CURRENT] = -1;
      ctl[b + WorkerWord.BLOCKED_SINCE] = 0;
      ctl[b + WorkerWord.OS_TID] = osTid;
      Atomics.store(ctl, b + WorkerWord.ROLE, spare ? WorkerRole.STARTING : WorkerRole.BASE);
      return w;
    }
    return -1;
  }

  /**
   * Resolves when the worker in slot `w` may take requests: at once for the runtime's first
   * workers, and for a replacement once the owner armed it (WorkerWord.ARMED: piscina reported it ready) or
   * the runtime shuts down.
   */
  async armed(w: number): Promise<void> {
    const ctl = this.#ctl;
    if (Atomics.load(ctl, ControlWord.ARMING) === 0) return;
    const word = this.#s.workerBase(w) + WorkerWord.ARMED;
    // Pairs with the store and notify in arm().
    while (Atomics.load(ctl, word) === 0 && this.#s.shutdownState() === 0) {
      const r = Atomics.waitAsync(ctl, word, 0, PARK_SLICE_MS);
      if (r.async) await r.value;
    }
  }

  /** Slot `w`'s pump loop runs: it counts in ControlWord.WORKERS_LIVE (Runtime.ready() waits on it). */
  live(w: number): void {
    const ctl = this.#ctl;
    Atomics.store(ctl, this.#s.workerBase(w) + WorkerWord.LIVE, 1);
    Atomics.add(ctl, ControlWord.WORKERS_LIVE, 1);
    Atomics.notify(ctl, ControlWord.WORKERS_LIVE);
  }

  /**
   * Slot `w` no longer counts in ControlWord.WORKERS_LIVE. The exchange makes it once whoever calls it: the
   * pump leaving its loop, the owner recovering a dead thread, the owner ending a stuck one.
   */
  leaveLive(w: number): void {
    const ctl = this.#ctl;
    if (Atomics.exchange(ctl, this.#s.workerBase(w) + WorkerWord.LIVE, 0) === 1) Atomics.sub(ctl, ControlWord.WORKERS_LIVE, 1);
    Atomics.notify(ctl, ControlWord.WORKERS_LIVE);
  }

  /**
   * A spare in slot `w`: wait in reserve until the pool monitor activates it (true) or the runtime
   * shuts down (false). `counted`: the caller already counted it in ControlWord.POOL_RESERVE.
   */
  async reserve(w: number, counted: boolean): Promise<boolean> {
    const ctl = this.#ctl;
    const b = this.#s.workerBase(w);
    Atomics.store(ctl, b + WorkerWord.ROLE, WorkerRole.RESERVE);
    // Counted after the role is set: the monitor activates only slots it finds in RESERVE.
    if (!counted) Atomics.add(ctl, ControlWord.POOL_RESERVE, 1);
    for (;;) {
      const key = Atomics.load(ctl, b + WorkerWord.PARK);
      // Pairs with activateSpare()'s compareExchange RESERVE -> EXTRA, then its add and notify on PARK.
      if (Atomics.load(ctl, b + WorkerWord.ROLE) === WorkerRole.EXTRA) return true;
      if (this.#s.shutdownState() !== 0) return false;
      if (Atomics.wait(ctl, b + WorkerWord.PARK, key, parkSlice()) === 'timed-out') {
        await new Promise<void>((r) => setImmediate(r));
      }
    }
  }

  /**
   * The extra in slot `w` stayed idle and left the pool: it no longer counts as live, and the
   * retirement is counted (ControlWord.S_POOL_RETIRED, noted by the monitor). Back to reserve when there is
   * no spare (true: the caller then waits in reserve(w, true)); else false, and it should free(w).
   */
  retire(w: number): boolean {
    const ctl = this.#ctl;
    this.leaveLive(w);
    Atomics.add(ctl, ControlWord.S_POOL_RETIRED, 1);
    // Something queued since it looked: wake a parked worker for it (else the monitor grows).
    if (!this.#s.sq.isEmpty()) this.#s.workerPark.wakeOne();
    return this.#s.shutdownState() === 0 && Atomics.compareExchange(ctl, ControlWord.POOL_RESERVE, 0, 1) === 0;
  }

  /** Give slot `w` back (its counters stay for stats until it is claimed again). */
  free(w: number): void {
    const b = this.#s.workerBase(w);
    Atomics.store(this.#ctl, b + WorkerWord.ROLE, WorkerRole.BASE);
    Atomics.store(this.#ctl, b + WorkerWord.STATE, WorkerState.FREE);
  }

  /** The pump in slot `w` returned (shutdown): the slot stays EXITED unless it was freed. */
  exit(w: number): void {
    const word = this.#s.workerBase(w) + WorkerWord.STATE;
    if (Atomics.load(this.#ctl, word) !== WorkerState.FREE) Atomics.store(this.#ctl, word, WorkerState.EXITED);
    this.leaveLive(w);
  }

  // ---- the owner's side (workers.ts, pool.ts) --------------------------------------------------

  /** The thread id of slot `w`'s worker (the last one, for a FREE slot). */
  threadOf(w: number): number {
    return this.#ctl[this.#s.workerBase(w) + WorkerWord.THREAD_ID]!;
  }

  /** The RUNNING slot of thread `threadId` (any slot in use, with `anyState`), or -1. */
  find(threadId: number, anyState = false): number {
    const ctl = this.#ctl;
    for (let w = 0; w < this.#s.maxWorkers; w++) {
      const b = this.#s.workerBase(w);
      if (ctl[b + WorkerWord.THREAD_ID] !== threadId) continue;
      const state = Atomics.load(ctl, b + WorkerWord.STATE);
      if (state === WorkerState.RUNNING || (anyState && state !== WorkerState.FREE)) return w;
    }
    return -1;
  }

  /**
   * piscina reported worker `threadId` ready: let its pump take requests (WorkerWord.ARMED). Its slot is
   * claimed already unless piscina reported it before the pump claimed one (piscina loads the pump
   * with import(), pump-entry.cts): then armPending() arms it once the slot is there.
   */
  arm(threadId: number): void {
    const w = this.find(threadId);
    if (w < 0) {
      this.#unarmed.add(threadId);
      return;
    }
    const word = this.#s.workerBase(w) + WorkerWord.ARMED;
    // Pairs with the load in armed().
    Atomics.store(this.#ctl, word, 1);
    Atomics.notify(this.#ctl, word);
    this.#unarmed.delete(threadId);
  }

  /** Arm the threads arm() found no slot for yet. */
  armPending(): void {
    for (const id of this.#unarmed) this.arm(id);
  }

  /** Thread `threadId` will never claim a slot (it exited): stop waiting to arm it. */
  forget(threadId: number): void {
    this.#unarmed.delete(threadId);
  }

  /**
   * Thread `threadId` is gone. The entry it held (its slot says which, and which request)
   * completes with -EOWNERDEAD through its queue, exactly once: the state CAS races with nobody
   * but a worker that is dead. Its slot and any spinner role it held are given back.
   */
  recover(threadId: number): void {
    const s = this.#s;
    const ctl = this.#ctl;
    const w = this.find(threadId);
    if (w < 0) return;
    const b = s.workerBase(w);
    const idx = Atomics.load(ctl, b + WorkerWord.CURRENT);
    if (idx >= 0) {
      if (entryId(s, idx) === Atomics.load(ctl, b + WorkerWord.CURRENT_ID) && this.#entries.ownerDead(idx)) {
        Atomics.add(ctl, ControlWord.S_OWNER_DEAD, 1);
      }
    }
    if (Atomics.load(ctl, b + WorkerWord.SPINNING) === 1) Atomics.sub(s.sq.i32, RingField.C_SPINNERS, 1);
    // A worker stopped while parked leaves its bit: a wake-up sent there would reach nobody.
    s.workerPark.cancel(w);
    Atomics.add(ctl, ControlWord.S_WORKER_DEATHS, 1);
    this.leaveLive(w);
    ctl[b + WorkerWord.CURRENT] = -1;
    ctl[b + WorkerWord.SPINNING] = 0;
    ctl[b + WorkerWord.BLOCKED_SINCE] = 0;
    // A spare that died leaves the reserve.
    if (Atomics.compareExchange(ctl, b + WorkerWord.ROLE, WorkerRole.RESERVE, WorkerRole.BASE) === WorkerRole.RESERVE) {
      Atomics.sub(ctl, ControlWord.POOL_RESERVE, 1);
    }
    // The slot is free for the replacement (keeping its counters for stats until reused).
    this.free(w);
  }

  /**
   * Call `found(w, idx, id)` for each slot whose worker is on a chain past its deadline (at `now`,
   * sharedNow() ms) or cancelled: request `id` in entry `idx`. The chain is still RUNNING.
   */
  eachOverdue(now: number, found: (w: number, idx: number, id: number) => void, fine: (w: number) => void): void {
    const s = this.#s;
    const ctl = this.#ctl;
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      const idx = Atomics.load(ctl, b + WorkerWord.CURRENT);
      if (idx < 0 || Atomics.load(ctl, b + WorkerWord.STATE) !== WorkerState.RUNNING) {
        fine(w);
        continue;
      }
      const id = Atomics.load(ctl, b + WorkerWord.CURRENT_ID);
      const e = this.#entry;
      entryRead(s, idx, e);
      const overdue =
        e.id === id &&
        e.kind === RequestKind.CHAIN &&
        entryState(s, idx) === EntryState.RUNNING &&
        (entryCancelled(s, idx, id) || (e.deadline !== 0 && now >= e.deadline));
      if (overdue) found(w, idx, id);
      else fine(w);
    }
  }

  /**
   * End the chain (request `id` in entry `idx`) that slot `w`'s worker is stuck in: it completes
   * with -ETIME (past its deadline) or -ECANCELED, and the slot stops counting as a running worker
   * (the replacement takes another slot; the thread's exit frees this one, zombieExited). Returns
   * the slot's thread id, or 0 when the chain finished meanwhile (nothing was done).
   */
  endStuck(w: number, idx: number, id: number): number {
    const s = this.#s;
    const ctl = this.#ctl;
    const b = s.workerBase(w);
    // Pairs with the pump's entryDone (CAS RUNNING -> DONE): if the call returned and the chain
    // finished meanwhile, the worker completes it and nothing happens here. The completion says the
    // atom that was running, as the interpreter published it when the atom began.
    const ended = entryCancelled(s, idx, id)
      ? entryEnd(s, idx, STUCK_FROM, EntryState.STUCK_CANCELLED, Status.CANCELLED, -errno.ECANCELED)
      : entryEnd(s, idx, STUCK_FROM, EntryState.STUCK_TIMEDOUT, Status.TIMEDOUT, -errno.ETIME);
    if (!ended) return 0;
    Atomics.store(ctl, b + WorkerWord.STATE, WorkerState.EXITED);
    this.leaveLive(w);
    Atomics.add(ctl, ControlWord.S_STUCK_ENDED, 1);
    entryPost(s, idx);
    return ctl[b + WorkerWord.THREAD_ID]!;
  }

  /**
   * The thread ended in slot `w` (endStuck) while it held entry `idx` is gone: free the slot, and
   * the entry too if its submitter reaped it already (else the submitter frees it, client.ts).
   */
  zombieExited(w: number, idx: number): void {
    const s = this.#s;
    // Pairs with the submitter's CAS STUCK_* -> STUCK_REAPED (client.ts #complete).
    if (!entryStateMove(s, idx, EntryState.STUCK_TIMEDOUT, EntryState.STUCK_GONE_TIMEDOUT)) {
      entryStateMove(s, idx, EntryState.STUCK_CANCELLED, EntryState.STUCK_GONE_CANCELLED);
    }
    // A confined chain's descriptors are closed once the thread that was using them is gone.
    const e = this.#entry;
    entryRead(s, idx, e);
    if (e.policy !== 0) s.policies.closeHeld(e.id);
    if (entryState(s, idx) === EntryState.STUCK_REAPED) {
      this.#entries.release(idx);
      entryStateSet(s, idx, EntryState.FREE);
      this.#pushFree(idx);
    }
    const b = s.workerBase(w);
    this.#ctl[b + WorkerWord.CURRENT] = -1;
    Atomics.store(this.#ctl, b + WorkerWord.STATE, WorkerState.FREE);
  }

  /** Give entry `idx` back to the free ring (retrying while the ring reports a transient full). */
  #pushFree(idx: number): void {
    if (this.#s.fq.tryPush(idx)) this.#s.fq.consumers.notify(Infinity);
    else setImmediate(() => this.#pushFree(idx));
  }

  /** Whether some thread piscina reported ready waits for its slot to be armed (armPending). */
  get armsPending(): boolean {
    return this.#unarmed.size > 0;
  }

  /**
   * Nothing for the owner's periodic checks to watch (StuckCheck; issue 14): the runtime open
   * (ControlWord.LIFECYCLE), no client busy on any thread (ControlWord.BUSY), no worker inside a request, and no
   * thread waiting to be armed.
   */
  quiet(): boolean {
    const s = this.#s;
    const ctl = this.#ctl;
    if (this.#unarmed.size > 0 || Atomics.load(ctl, ControlWord.LIFECYCLE) !== Lifecycle.OPEN) return false;
    // Pairs with the clients' add to ControlWord.BUSY when their reaper starts (client.ts): one that starts
    // after this load also bumps ControlWord.BUSY_EPOCH (or, on the owner's thread, restarts the checks).
    if (Atomics.load(ctl, ControlWord.BUSY) !== 0) return false;
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      if (Atomics.load(ctl, b + WorkerWord.CURRENT) >= 0 && Atomics.load(ctl, b + WorkerWord.STATE) === WorkerState.RUNNING) return false;
    }
    return true;
  }

  /**
   * Work queued that no worker took since the last look (`lastPos`: the submission ring's dequeue
   * position then), while workers sleep: wake one. Returns the position now, for the next look.
   *
   * A submitter wakes a worker only when more is queued than workers are awake (client.ts #wake),
   * counting on the awake ones to come for it; one that is inside a long call (a chain waiting on a
   * file another request is to create) never comes. Base workers park without a timeout
   * (parkSlice), so the owner's tick (StuckCheck) takes the place their one-second park slice had:
   * at most two ticks of delay.
   */
  wakeStalled(lastPos: number): { pos: number; woke: boolean } {
    const s = this.#s;
    // Pairs with the workers' pops (the dequeue position moves with each).
    const pos = s.sq.dequeuePosition();
    const woke = pos === lastPos && !s.sq.isEmpty() && s.workerPark.sleepers() > 0 && s.workerPark.wakeOne() >= 0;
    return { pos, woke };
  }

  /** The submission ring's dequeue position (for wakeStalled's next look). */
  dequeuePosition(): number {
    return this.#s.sq.dequeuePosition();
  }

  /** Whether thread `threadId` is stamped as inside a call that may block (WorkerWord.BLOCKED_SINCE). */
  inCall(threadId: number): boolean {
    const w = this.find(threadId, true);
    // Pairs with the worker's stores in its BlockMarker (pump.ts).
    return w >= 0 && Atomics.load(this.#ctl, this.#s.workerBase(w) + WorkerWord.BLOCKED_SINCE) !== 0;
  }

  /**
   * Activate a spare parked in reserve (reserve()): it joins the pool as an extra. Returns false
   * when none is ready.
   */
  activateSpare(): boolean {
    const s = this.#s;
    const ctl = this.#ctl;
    if (Atomics.load(ctl, ControlWord.POOL_RESERVE) <= 0) return false;
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      // Pairs with the spare's load of WorkerWord.ROLE before its wait on WorkerWord.PARK (reserve()).
      if (Atomics.compareExchange(ctl, b + WorkerWord.ROLE, WorkerRole.RESERVE, WorkerRole.EXTRA) !== WorkerRole.RESERVE) continue;
      Atomics.sub(ctl, ControlWord.POOL_RESERVE, 1);
      Atomics.add(ctl, b + WorkerWord.PARK, 1);
      Atomics.notify(ctl, b + WorkerWord.PARK);
      return true;
    }
    return false;
  }

  /**
   * One look at every worker slot, for the pool monitor (pool.ts): fills and returns `out`.
   * `thresholdTicks` (sharedNow ticks, TICKS_PER_MS per ms) is how long a stamped call must have
   * lasted at `now` for its worker to count as blocked. Loads only; pairs with the worker's stores
   * of WorkerWord.LIVE (live()), WorkerWord.CURRENT (the pump) and WorkerWord.BLOCKED_SINCE (its
   * BlockMarker), and the monitor's CAS of WorkerWord.ROLE (activateSpare()).
   */
  census(now: number, thresholdTicks: number, out: SlotCensus): SlotCensus {
    const s = this.#s;
    const ctl = this.#ctl;
    out.live = out.base = out.running = out.blocked = out.busy = out.joining = 0;
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      if (Atomics.load(ctl, b + WorkerWord.LIVE) !== 1) {
        // Activated a moment ago and not taking work yet: the pool is growing already.
        if (Atomics.load(ctl, b + WorkerWord.ROLE) === WorkerRole.EXTRA && Atomics.load(ctl, b + WorkerWord.STATE) === WorkerState.RUNNING) out.joining++;
        continue;
      }
      out.live++;
      if (Atomics.load(ctl, b + WorkerWord.ROLE) === WorkerRole.BASE) out.base++;
      const current = Atomics.load(ctl, b + WorkerWord.CURRENT);
      if (current >= 0) out.running++;
      const since = Atomics.load(ctl, b + WorkerWord.BLOCKED_SINCE);
      if (since !== 0 && ((now - since) | 0) >= thresholdTicks) out.blocked++;
      else if (current >= 0) out.busy++;
    }
    return out;
  }

  /** Slots whose worker is an extra (activated from reserve). */
  extras(): number {
    let n = 0;
    for (let w = 0; w < this.#s.maxWorkers; w++) {
      if (Atomics.load(this.#ctl, this.#s.workerBase(w) + WorkerWord.ROLE) === WorkerRole.EXTRA) n++;
    }
    return n;
  }

  /** Workers of the pool: base and extras (a worker activated a moment ago included), not spares (starting or in reserve). */
  poolSize(): number {
    const ctl = this.#ctl;
    let n = 0;
    for (let w = 0; w < this.#s.maxWorkers; w++) {
      const b = this.#s.workerBase(w);
      const role = Atomics.load(ctl, b + WorkerWord.ROLE);
      if (Atomics.load(ctl, b + WorkerWord.STATE) === WorkerState.RUNNING && role !== WorkerRole.RESERVE && role !== WorkerRole.STARTING) n++;
    }
    return n;
  }

  /** Every slot in use (not FREE), with the latency its workers recorded. */
  stats(): SlotStats {
    const s = this.#s;
    const ctl = this.#ctl;
    const workers: WorkerStats[] = [];
    const submitToStart = new HistogramSnapshot();
    const startToComplete = new HistogramSnapshot();
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      const state = Atomics.load(ctl, b + WorkerWord.STATE);
      if (state === WorkerState.FREE) continue;
      const role = Atomics.load(ctl, b + WorkerWord.ROLE);
      workers.push({
        slot: w,
        threadId: ctl[b + WorkerWord.THREAD_ID]!,
        state: state !== WorkerState.RUNNING ? 'exited' : role === WorkerRole.RESERVE || role === WorkerRole.STARTING ? 'spare' : 'running',
        role: role === WorkerRole.BASE ? 'base' : 'extra',
        chains: ctl[b + WorkerWord.CHAINS]!,
        atoms: ctl[b + WorkerWord.ATOMS]!,
        parks: ctl[b + WorkerWord.PARKS]!,
        spinHits: ctl[b + WorkerWord.SPIN_HITS]!,
        messages: Atomics.load(ctl, b + WorkerWord.MESSAGES),
      });
      submitToStart.add(s.ctl64, s.workerHist(w, H_SUBMIT_TO_START));
      startToComplete.add(s.ctl64, s.workerHist(w, H_START_TO_COMPLETE));
    }
    return { workers, submitToStart, startToComplete };
  }

  /** Workers that died and were recovered; requests completed with -EOWNERDEAD because of it. */
  deaths(): { workerDeaths: number; ownerDeadCompletions: number; stuckWorkersEnded: number } {
    const ctl = this.#ctl;
    return {
      workerDeaths: Atomics.load(ctl, ControlWord.S_WORKER_DEATHS),
      ownerDeadCompletions: Atomics.load(ctl, ControlWord.S_OWNER_DEAD),
      stuckWorkersEnded: Atomics.load(ctl, ControlWord.S_STUCK_ENDED),
    };
  }
}

// ---- stuck workers (owner only) -----------------------------------------------------------------
//
// A chain blocked in a call that never returns (read on a pipe nobody writes) never reaches an atom
// boundary, so neither its deadline nor a cancel can end it there. The owner checks the worker
// slots: a worker still on the same chain STUCK_GRACE_MS after that chain's deadline passed or it
// was cancelled (a forced close cancels everything) is terminated and replaced, and the chain
// completes with -ETIME or -ECANCELED, exactly once (a CAS on the entry's state against the
// worker's own completion). Node cannot interrupt a thread inside a system call: the terminated
// thread ends when its call returns, and until then it keeps the entry (and the arena memory the
// call may write), which is freed only after both that and the submitter's reaping.

/** Milliseconds between the owner's checks for workers stuck past a deadline, a cancel or a forced close. */
const STUCK_CHECK_MS = 50;
/**
 * Milliseconds a chain may stay in one call after its deadline passed or it was cancelled before
 * the runtime ends it by terminating its worker. A call that returns in time is not disturbed: the
 * chain then ends at its next atom boundary as usual.
 */
export const STUCK_GRACE_MS = 200;

/**
 * How the stuck check ends a worker thread: `ender(threadId)` is a function that terminates the
 * live thread `threadId` (saying why), or undefined when no such thread is alive (it is exiting
 * already: recover() completes its entry when it is gone).
 */
export type ThreadEnder = (threadId: number) => ((why: string) => void) | undefined;

/**
 * The owner's periodic check for stuck workers. start() and stop() are its one seam. It runs only
 * while there is something to watch (issue 14): it stops by itself at its first tick that finds
 * nothing (WorkerSlots.quiet, and nothing overdue or ended and not yet gone), and the owner starts
 * it again when a client goes busy (workers.ts resumeChecks).
 */
export class StuckCheck {
  readonly #slots: WorkerSlots;
  readonly #ender: ThreadEnder;
  #timer: NodeJS.Timeout | undefined;
  /** The submission ring's dequeue position at the last tick, or at start() (WorkerSlots.wakeStalled). */
  #lastDeqPos = -1;
  /** Parked workers the ticks woke for queued work nobody took (wakeStalled). */
  #stallWakes = 0;
  /** Per worker slot, when it was first seen overdue on which request. */
  readonly #overdue = new Map<number, { id: number; since: number }>();
  /** Ended workers whose threads have not exited yet (thread id -> slot and entry). */
  readonly #zombies = new Map<number, { slot: number; idx: number }>();

  constructor(slots: WorkerSlots, ender: ThreadEnder) {
    this.#slots = slots;
    this.#ender = ender;
  }

  /**
   * Check every STUCK_CHECK_MS (the timer holds no handle) until a tick finds nothing to watch.
   * Cheap when it runs already.
   */
  start(): void {
    if (this.#timer !== undefined) return;
    // The first tick looks for pops since now, not since the last tick of an earlier busy spell.
    this.#lastDeqPos = this.#slots.dequeuePosition();
    this.#timer = setInterval(this.#tick, STUCK_CHECK_MS).unref();
  }

  /** Parked workers its ticks woke for queued work no worker took between two ticks. */
  get stallWakes(): number {
    return this.#stallWakes;
  }

  /** Whether the check has a timer now. */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  readonly #tick = (): void => {
    this.check();
    // Riding on the same timer: queued work no worker took since the last tick.
    const { pos, woke } = this.#slots.wakeStalled(this.#lastDeqPos);
    this.#lastDeqPos = pos;
    if (woke) this.#stallWakes++;
    if (this.#overdue.size === 0 && this.#zombies.size === 0 && this.#slots.quiet()) this.stop();
  };

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Threads ended and still blocked in their call (rt.stats().stuckThreads). */
  get zombies(): number {
    return this.#zombies.size;
  }

  /** One look at the slots (and, riding on the same timer, arm what piscina reported early). */
  check(): void {
    this.#slots.armPending();
    const now = sharedNow();
    this.#slots.eachOverdue(
      now,
      (w, idx, id) => {
        const seen = this.#overdue.get(w);
        if (seen === undefined || seen.id !== id) this.#overdue.set(w, { id, since: now });
        else if (now - seen.since >= STUCK_GRACE_MS) {
          this.#overdue.delete(w);
          this.#end(w, idx, id);
        }
      },
      (w) => this.#overdue.delete(w),
    );
  }

  /** End the chain worker slot `w` is stuck in, and terminate (and so replace) the worker. */
  #end(w: number, idx: number, id: number): void {
    const end = this.#ender(this.#slots.threadOf(w));
    if (end === undefined) return;
    const threadId = this.#slots.endStuck(w, idx, id);
    if (threadId === 0) return;
    this.#zombies.set(threadId, { slot: w, idx });
    end(`syslet: worker ended: request ${id >>> 0} was stuck in a call past its deadline or cancel`);
  }

  /** Thread `threadId` exited: if it was one this check ended, free its slot (and entry). */
  exited(threadId: number): void {
    const z = this.#zombies.get(threadId);
    if (z === undefined) return;
    this.#zombies.delete(threadId);
    this.#slots.zombieExited(z.slot, z.idx);
  }
}
