/**
 * The owning runtime's worker threads: piscina's base pool, the spares and extras the pool monitor
 * starts (pool.ts), and the owner's side of their slots (slots.ts): start-up, a dead worker's
 * recovery, stuck chains, shutdown. A runtime attached from another thread has none of this: the
 * workers belong to the runtime it joined.
 *
 * piscina owns the base pool's threads (start, count, replacement); this file watches them. A
 * worker that dies (uncaught error, process.exit(), resource limits) is replaced by piscina; what
 * it held is completed here (WorkerSlots.recover), its error reported through the completion, not
 * thrown.
 */
import { SHARE_ENV, type ResourceLimits } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { Keepalive } from 'atomics-sync';
import { entryRelease } from './encode.js';
import { EntryState, Status, entryFail } from './entry.js';
import { errno } from './errno.js';
import { ControlWord, type SharedState } from './shared.js';
import type { PumpData } from './pump.js';
import { PoolMonitor, type PoolStats } from './pool.js';
import { StuckCheck, WorkerSlots } from './slots.js';

/** States a dead worker's entry may be in (the CAS in entryFail picks the one it is in). */
const OWNER_DEAD_FROM = [EntryState.RUNNING, EntryState.QUEUED, EntryState.CANCELLED] as const;

const PUMP_FILE = fileURLToPath(new URL('./pump-entry.cjs', import.meta.url));

/**
 * Runtime.create() could not start the workers (code 'ERR_SYSLET_START'): the message says why,
 * `cause` is the worker's own error when there is one (e.g. uv_cwd ENOENT from a deleted current
 * directory, ERR_WORKER_OUT_OF_MEMORY from resourceLimits too small to start).
 */
export class SysletStartError extends Error {
  readonly code = 'ERR_SYSLET_START';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SysletStartError';
  }
}

export interface WorkersOptions {
  /** The base pool (piscina's threads). */
  workers: number;
  /** The bound on every thread: base, extras and the spare. */
  maxWorkers: number;
  resourceLimits: ResourceLimits | undefined;
  /** Milliseconds ready() waits for the base pool before it rejects (until started()). */
  startTimeoutMs: number;
}

export class Workers {
  readonly slots: WorkerSlots;
  readonly #s: SharedState;
  readonly #o: WorkersOptions;
  readonly #pool: Piscina;
  /** Grows the pool past `workers` when they all block. */
  readonly #growth: PoolMonitor;
  readonly #stuck: StuckCheck;
  readonly #watched = new WeakSet<object>();
  /** Start-up: until started(), a worker that fails rejects ready() with this. */
  #started = false;
  #startError: Error | undefined;
  #closed = false;
  /** stopTimers() ran: the periodic checks stay stopped. */
  #timersStopped = false;

  constructor(s: SharedState, o: WorkersOptions) {
    this.#s = s;
    this.#o = o;
    this.slots = new WorkerSlots(s, {
      ownerDead: (idx) => entryFail(s, idx, OWNER_DEAD_FROM, Status.FAILED, -errno.EOWNERDEAD),
      release: (idx) => entryRelease(s, idx),
    });
    const data: PumpData = { handles: s.handles };
    const limits = o.resourceLimits === undefined ? {} : { resourceLimits: o.resourceLimits };
    this.#pool = new Piscina({
      filename: PUMP_FILE,
      minThreads: o.workers,
      maxThreads: o.workers,
      idleTimeout: Infinity,
      // The pump parks with its own Atomics.wait; piscina's wait loop would block it.
      atomics: 'disabled',
      // File descriptors are process-wide: a chain or threadlet may open one on one thread and
      // close it on another, and a worker's restart must not close what it opened.
      trackUnmanagedFds: false,
      // One environment for the process, as a direct call sees it: a threadlet on a worker reads
      // process.env as the caller has it now, not the copy taken when the worker started.
      env: SHARE_ENV,
      workerData: { syslet: data },
      ...limits,
    });
    this.#watch();
    this.#pool.on('workerCreate', (w: { id: number }) => {
      this.#watch();
      this.slots.arm(w.id);
      // Its pump has not claimed a slot yet: the stuck check's tick arms it once it has.
      if (this.slots.armsPending) this.resumeChecks();
    });
    this.#pool.on('error', () => {});
    // Spares and extras are started by the monitor, not by piscina.
    this.#growth = new PoolMonitor(s, {
      base: o.workers,
      max: o.maxWorkers,
      pumpFile: PUMP_FILE,
      data,
      slots: this.slots,
      ...limits,
      onExit: (threadId) => this.#exited(threadId),
    });
    this.#growth.start();
    this.#stuck = new StuckCheck(this.slots, (threadId) => this.#ender(threadId));
    this.#stuck.start();
    this.#watchBusyEpoch();
  }

  /**
   * Resolves when `want` workers' pumps run. Until started() it rejects with a SysletStartError
   * when a worker fails to start or none started within options.startTimeoutMs.
   */
  async ready(want: number): Promise<void> {
    const ctl = this.#s.ctl;
    const deadline = performance.now() + this.#o.startTimeoutMs;
    // A pending Atomics.waitAsync holds no handle, and piscina's workers are unref'd: keep the
    // process alive while waiting.
    const keep = new Keepalive();
    keep.hold();
    try {
      for (;;) {
        const live = Atomics.load(ctl, ControlWord.WORKERS_LIVE);
        if (live >= want) {
          this.#started = true;
          return;
        }
        if (!this.#started) {
          if (this.#startError !== undefined) throw this.#startError;
          if (performance.now() >= deadline) {
            throw new SysletStartError(
              `syslet: ${live} of ${want} worker threads started within ${this.#o.startTimeoutMs} ms (option startTimeoutMs)`,
            );
          }
        }
        // Until the deadline, not past it: a wait of 50 ms let a deadline of 1 ms be judged only
        // once both workers were live (a worker that boots in under 50 ms, Node 26 in CI).
        const left = this.#started ? 50 : Math.min(50, Math.max(1, Math.ceil(deadline - performance.now())));
        const r = Atomics.waitAsync(ctl, ControlWord.WORKERS_LIVE, live, left);
        if (r.async) await r.value;
      }
    } finally {
      keep.dispose();
    }
  }

  /** Runtime.create() resolved: from now on replacement workers wait to be armed (shared.ts, WorkerWord.ARMED). */
  started(): void {
    this.#started = true;
    Atomics.store(this.#s.ctl, ControlWord.ARMING, 1);
  }

  /** A submission burst started, or a submission found every worker awake (`saturated`): see PoolMonitor.poke. */
  poke(saturated: boolean): void {
    this.#growth.poke(saturated);
  }

  poolStats(): PoolStats {
    return this.#growth.stats();
  }

  /** Ended stuck workers whose threads are still blocked in their call. */
  /** Parked workers the stuck check's ticks woke for queued work nobody took (Runtime._stallWakes). */
  get stallWakes(): number {
    return this.#stuck.stallWakes;
  }

  get stuckThreads(): number {
    return this.#stuck.zombies;
  }

  // ---- the periodic checks run only while there is work (issue 14) ------------------------------
  //
  // An idle runtime has no timer: the stuck-chain check (StuckCheck) and the pool monitor (pool.ts)
  // start when a client goes busy (the owner's own client calls resumeChecks(); a client on another
  // thread bumps ControlWord.BUSY_EPOCH, which #watchBusyEpoch waits on with Atomics.waitAsync: no timeout,
  // no handle, no task until it is notified), and each stops at its first tick that finds nothing
  // outstanding on any thread (ControlWord.BUSY), no worker inside a request, and the runtime open.

  /** (Re)start the periodic checks. Cheap when they run already; nothing once stopTimers() ran. */
  resumeChecks(): void {
    if (this.#timersStopped) return;
    this.#stuck.start();
    this.#growth.resume();
  }

  /** Whether each periodic check has a timer now (Runtime._checksArmed, for tests). */
  checksArmed(): { stuck: boolean; pool: boolean } {
    return { stuck: this.#stuck.armed, pool: this.#growth.armed };
  }

  /**
   * Wait (Atomics.waitAsync, no timeout) for a client on another thread to go busy, then restart
   * the checks and wait again. Ended by stopTimers()' notify.
   */
  #watchBusyEpoch(): void {
    const ctl = this.#s.ctl;
    // Pairs with the add and notify on ControlWord.BUSY_EPOCH of a client whose add to ControlWord.BUSY found 0 (client.ts #ensureReaper).
    const r = Atomics.waitAsync(ctl, ControlWord.BUSY_EPOCH, Atomics.load(ctl, ControlWord.BUSY_EPOCH));
    const again = (): void => {
      if (this.#timersStopped) return;
      this.resumeChecks();
      this.#watchBusyEpoch();
    };
    if (r.async) void r.value.then(again);
    else queueMicrotask(again);
  }

  /** Stop the periodic checks for good (close() and a failed start-up). */
  stopTimers(): void {
    this.#timersStopped = true;
    this.#stuck.stop();
    // Ends #watchBusyEpoch's wait (it sees #timersStopped).
    const ctl = this.#s.ctl;
    Atomics.add(ctl, ControlWord.BUSY_EPOCH, 1);
    Atomics.notify(ctl, ControlWord.BUSY_EPOCH);
  }

  /** Stop every worker thread (after the pumps were told to shut down, ControlWord.SHUTDOWN). */
  async destroy(): Promise<void> {
    await this.#pool.destroy();
    await this.#growth.close();
    this.#closed = true;
  }

  /** Start-up failed: stop piscina's threads (the monitor started none yet). */
  async abort(): Promise<void> {
    this.#closed = true;
    this.stopTimers();
    await this.#pool.destroy();
  }

  /** Listen for the exit of every worker thread piscina started (new ones as they come). */
  #watch(): void {
    for (const w of this.#pool.threads) {
      if (this.#watched.has(w)) continue;
      this.#watched.add(w);
      // Read now: a Worker's threadId is -1 once it stopped.
      const threadId = w.threadId;
      // Before create() resolved, a worker that fails means the runtime cannot start (piscina
      // would replace it forever): remember why, ready() rejects with it.
      w.on('error', (err: Error) => this.#startFailed(err));
      w.once('exit', (code: number) => {
        this.#startFailed(new Error(`a worker exited with code ${code} before its pump started`));
        this.slots.forget(threadId);
        this.#exited(threadId);
        // piscina's own 'exit' listener ran first and has already started the replacement. Watch
        // it now: waiting for its 'workerCreate' (sent once it reports ready) would miss a
        // replacement that dies before that.
        if (!this.#closed) this.#watch();
      });
    }
  }

  /** A worker thread (piscina's or the monitor's) is gone. */
  #exited(threadId: number): void {
    this.#stuck.exited(threadId);
    this.slots.recover(threadId);
  }

  /**
   * How to end live thread `threadId` (StuckCheck): piscina replaces a worker that reports an error
   * without waiting for its exit (which, for a thread blocked in a system call, comes only when the
   * call returns): it terminates it and starts another at once. A spare or extra of the monitor is
   * terminated; the monitor starts another when the pool needs one. Either way the thread's 'exit'
   * frees the slot.
   */
  #ender(threadId: number): ((why: string) => void) | undefined {
    const worker = this.#pool.threads.find((t) => t.threadId === threadId);
    if (worker !== undefined) return (why) => worker.emit('error', new Error(why));
    const extra = this.#growth.thread(threadId);
    if (extra !== undefined) return () => void extra.terminate();
    return undefined;
  }

  /** A worker failed (error or exit) during start-up: ready() rejects with the reason. */
  #startFailed(err: Error): void {
    if (this.#started || this.#startError !== undefined) return;
    const hint = /uv_cwd/.test(err.message)
      ? ' (the current directory no longer exists: worker threads cannot start from it)'
      : (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? ' (options.resourceLimits are too small for a worker to start)'
        : '';
    this.#startError = new SysletStartError(`syslet: worker threads could not start: ${err.message}${hint}`, {
      cause: err,
    });
  }
}
