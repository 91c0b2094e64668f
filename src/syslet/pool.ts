/**
 * The pool grows when its workers block: Go's hand-off for the syslet pool (issue 19).
 *
 * Go's runtime hands a processor to another thread when the one holding it stays in a system call
 * past a short threshold (sysmon), and retires idle threads later. Here the base pool (piscina's
 * workers, `workers`, sized for CPU work) is the set of processors; the monitor below, on the
 * runtime's thread, watches it through shared memory:
 *
 * - Every worker stamps WorkerWord.BLOCKED_SINCE when it enters a call that may block (a system-call atom of
 *   a chain, nanosleep included; an intercepted fs or child_process call or Atomics.wait of a
 *   threadlet, execSync included) and clears it after. Pure JS (a CPU-bound threadlet, a chain of
 *   nop jumps) never stamps it, nor do the intercepted calls that compute (zlib, crypto). One clock
 *   read per such call; no timer per call.
 * - The monitor ticks every TICK_MS while work is in flight (queued or running) and has no timer at
 *   all when none is: it then waits (Atomics.waitAsync, no CPU) on ControlWord.POOL_WATCH, which a thread
 *   sets when it starts a submission burst or a submission finds no worker parked, and an extra
 *   sets when it retires (wantPoolWatch). A submission on the runtime's own thread calls poke()
 *   instead, which also looks at once (at most every LOOK_TICKS) when it found no worker parked:
 *   a caller that submits a thousand requests in one synchronous loop holds its event loop, and
 *   the timer, for milliseconds, and the pool must grow while it does.
 * - When work waits in the submission ring and every live worker has been blocked for at least
 *   BLOCKED_MS (and, on Linux, the kernel says each sleeps rather than waits for a CPU: a worker
 *   preempted in a short call on a starved machine is not helped by another thread), the monitor
 *   activates a spare: a worker already started and parked in reserve (starting a Node worker takes
 *   tens of milliseconds, too long to wait for), which joins the pool at once, and starts a new
 *   spare behind it, while the pool (base, extras and the spare) stays within `maxWorkers`. The
 *   first spare starts when a worker is first seen blocked that long (and asleep in the kernel).
 *   A spare runs 4,000 harmless stats on a private table before it parks (pump.ts, warmUp), so
 *   that its code is optimized when it joins. CPU-bound work never grows the pool, nor starts a
 *   spare: a computing worker is not blocked.
 * - Go's GOMAXPROCS: an extra takes no new work while as many other workers compute (run a request
 *   outside a blocking call) as the base pool has (pump.ts, #capped); the monitor wakes it when
 *   they block again while work waits. So the threads computing stay at the base pool's size, and
 *   the extras do not take the CPU from the event loop once the blocking passes.
 * - An extra worker that finds nothing to do for `extraWorkerIdleMs` retires: back to reserve when
 *   there is no spare, else it exits. Lowest-numbered workers are woken first (WaiterSet), so extras
 *   (higher slots) are the ones that go idle once the burst of blocking passes.
 *
 * rt.stats().pool shows the size and the history of growth and retirement, with the reason.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { SHARE_ENV, Worker, type ResourceLimits } from 'node:worker_threads';
import { sharedNow } from 'atomics-sync';
import { ControlWord, TICKS_PER_MS, WorkerWord, WorkerRole, type SharedState } from './shared.js';
import type { PumpData } from './pump.js';
import { slotCensusMake, type WorkerSlots } from './slots.js';

/** A worker counts as blocked once it has been in one call this long. */
export const BLOCKED_MS = 1;
/** Monitor period while work is in flight. */
const TICK_MS = 1;
/** poke() looks at the workers at most this often (ticks of SharedState.ticks: 1/4 ms). */
const LOOK_TICKS = TICKS_PER_MS / 4;
/** History entries kept. */
const HISTORY = 64;

/**
 * The kernel state of the pool's threads (Linux: /proc/self/task/TID/stat, proc(5)), read on the
 * event loop's thread at the monitor's looks: open, one pread into a fixed buffer, close.
 * readFileSync allocated a 64 KiB buffer per read (procfs reports size 0): in the blocking server
 * the main thread spent 3.7% of its time there, most of it in the fresh buffers' page faults, which
 * wait while a worker forks a child. No descriptor stays open between looks: one held for the
 * runtime's life shows in a program's own count of its descriptors (a test of write-file-atomic's
 * cleanup saw 41 where it expected 40).
 */
class ThreadStates {
  /** Bytes read: the state follows the command name, at most 15 bytes (TASK_COMM_LEN), after the tid. */
  static readonly BYTES = 64;
  readonly #buf = Buffer.allocUnsafe(ThreadStates.BYTES);

  /**
   * Whether kernel thread `tid` of this process waits for a CPU (state R). undefined when that
   * cannot be read (no /proc, the thread is gone, a name that fills the bytes read).
   */
  runnable(tid: number): boolean | undefined {
    const buf = this.#buf;
    let n: number;
    let fd = -1;
    try {
      fd = openSync(`/proc/self/task/${tid}/stat`, 'r');
      n = readSync(fd, buf, 0, ThreadStates.BYTES, 0);
    } catch {
      return undefined;
    } finally {
      if (fd >= 0) closeSync(fd);
    }
    // The state follows the command name, which is in parentheses and may contain anything: after
    // the last ')' read, and a space.
    for (let i = n - 1; i >= 0; i--) {
      if (buf[i] === 0x29 /* ')' */) return i + 2 < n ? buf[i + 2] === 0x52 /* 'R' */ : undefined;
    }
    return undefined;
  }
}

export interface PoolEvent {
  /** Milliseconds since the runtime started (PoolStats.startedAt), to 0.01 ms. */
  at: number;
  /** 'grew': a spare joined; 'retired': an idle extra left; 'at bound': it would have grown but maxWorkers is reached. */
  change: 'grew' | 'retired' | 'at bound';
  /** Workers in the pool afterwards (base and extras; the spare not counted). */
  size: number;
  /** Why, in words. */
  reason: string;
}

export interface PoolStats {
  /** The base pool (option workers). */
  base: number;
  /** The bound (option maxWorkers), spares and extras included. */
  max: number;
  /** Workers taking work now (base and extras). */
  size: number;
  /** Spares parked in reserve. */
  spares: number;
  /** Threads started beyond the base pool (spares, some of which became extras), in all. */
  started: number;
  /** Times the pool grew / an extra retired / growth was refused at the bound. */
  grew: number;
  retired: number;
  atBound: number;
  /** The last 64 changes, oldest first. */
  history: PoolEvent[];
  /**
   * When the runtime started, in milliseconds on the process-wide clock of Completion.timing
   * (performance.timeOrigin + performance.now()): an event happened at startedAt + at.
   */
  startedAt: number;
  /** The monitor's 1 ms tick is armed (work in flight); false: it has no timer and waits on ControlWord.POOL_WATCH. */
  watching: boolean;
  /** Times the monitor looked at the workers (ticks and looks from submissions). */
  looks: number;
  /**
   * Warm-up chains the spares ran, all together: each spare runs 4,000 stats of "/" on a private
   * table (never this runtime's) before it parks, so its code is optimized when it joins.
   */
  warmed: number;
}

/**
 * Live workers of the base pool. (An extra counts them for its cap, pump.ts #capped.)
 */
export function baseWorkers(s: SharedState): number {
  const ctl = s.ctl;
  let n = 0;
  for (let w = 0; w < s.maxWorkers; w++) {
    const b = s.workerBase(w);
    if (Atomics.load(ctl, b + WorkerWord.LIVE) === 1 && Atomics.load(ctl, b + WorkerWord.ROLE) === WorkerRole.BASE) n++;
  }
  return n;
}

/**
 * Live workers other than slot `except` that run a request and have not been blocked for
 * BLOCKED_MS or more (a worker in a short system call still counts: it computes again at once).
 */
export function busyWorkers(s: SharedState, except: number): number {
  const ctl = s.ctl;
  const now = s.ticks();
  const threshold = BLOCKED_MS * TICKS_PER_MS;
  let n = 0;
  for (let w = 0; w < s.maxWorkers; w++) {
    const b = s.workerBase(w);
    if (w === except || Atomics.load(ctl, b + WorkerWord.LIVE) !== 1 || Atomics.load(ctl, b + WorkerWord.CURRENT) < 0) continue;
    // Pairs with the workers' stores of WorkerWord.CURRENT and WorkerWord.BLOCKED_SINCE: a stale read only lets an
    // extra take one more entry, or wait one more tick for the monitor.
    const since = Atomics.load(ctl, b + WorkerWord.BLOCKED_SINCE);
    if (since === 0 || ((now - since) | 0) < threshold) n++;
  }
  return n;
}

/**
 * Ask the pool monitor of the runtime whose control words are `ctl` to watch, from any thread (an
 * attached runtime's submissions, an extra that retires). Costs one load when it watches already.
 */
export function wantPoolWatch(ctl: Int32Array): void {
  // Pairs with the monitor's store of 0 before its last look and its Atomics.waitAsync (#idle):
  // either this CAS finds 0 and the notify ends that wait (or the wait finds 1 and does not start),
  // or the monitor's look comes after this thread's submission and sees it.
  if (Atomics.load(ctl, ControlWord.POOL_WATCH) === 0 && Atomics.compareExchange(ctl, ControlWord.POOL_WATCH, 0, 1) === 0) {
    Atomics.notify(ctl, ControlWord.POOL_WATCH);
  }
}

export interface PoolMonitorOptions {
  base: number;
  max: number;
  pumpFile: string;
  data: PumpData;
  /** The worker slots: the words this monitor reads, and the spares it activates. */
  slots: WorkerSlots;
  resourceLimits?: ResourceLimits;
  /** A worker thread that this monitor started has exited (recover what it held). */
  onExit: (threadId: number) => void;
}

export class PoolMonitor {
  readonly #s: SharedState;
  readonly #o: PoolMonitorOptions;
  readonly #t0 = sharedNow();
  /** Spares and extras this monitor started, alive or starting. */
  readonly #threads = new Set<Worker>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** An Atomics.waitAsync on ControlWord.POOL_WATCH is pending. */
  #listening = false;
  /** SharedState.ticks() at the last look, and the looks in all. */
  #lastLook = 0;
  #looks = 0;
  /** Reused by every look (#check). */
  readonly #census = slotCensusMake();
  #closed = false;
  #grew = 0;
  #started = 0;
  #atBound = 0;
  /** In an episode refused at the bound (recorded once per episode). */
  #refusing = false;
  #retiredSeen = 0;
  readonly #history: PoolEvent[] = [];

  readonly #states: ThreadStates;

  constructor(s: SharedState, o: PoolMonitorOptions) {
    this.#s = s;
    this.#o = o;
    this.#states = new ThreadStates();
  }

  /**
   * Start the monitor (when the bound leaves room to grow): idle, with no timer, until work is
   * submitted. The first spare starts only when a worker is first seen blocked: a runtime whose
   * work never blocks never pays for the thread.
   */
  start(): void {
    if (this.#o.max <= this.#o.base) return;
    this.#idle();
  }

  /**
   * A submission on the runtime's thread: the first of a synchronous burst, or one that found no
   * worker parked (`saturated`). Arms the tick if it is not armed; when saturated, also looks now
   * (at most every LOOK_TICKS), since the tick cannot run before the burst ends.
   */
  poke(saturated: boolean): void {
    if (this.#closed || this.#o.max <= this.#o.base) return;
    if (saturated && ((this.#s.ticks() - this.#lastLook) | 0) >= LOOK_TICKS) this.#check();
    if (this.#timer === undefined) this.#watch();
  }

  /**
   * A client went busy (workers.ts resumeChecks): tick again if the monitor was waiting on
   * ControlWord.POOL_WATCH for want of work (see #idle). Cheap when it ticks already.
   */
  resume(): void {
    if (this.#timer !== undefined || this.#closed || this.#o.max <= this.#o.base) return;
    this.#watch();
  }

  /** Whether the monitor has a tick scheduled (false when stopped, closed, or with no room to grow). */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  stats(): PoolStats {
    const ctl = this.#s.ctl;
    this.#noteRetirements();
    return {
      base: this.#o.base,
      max: this.#o.max,
      size: this.#o.slots.poolSize(),
      spares: Math.max(0, Atomics.load(ctl, ControlWord.POOL_RESERVE)),
      started: this.#started,
      grew: this.#grew,
      retired: Atomics.load(ctl, ControlWord.S_POOL_RETIRED),
      atBound: this.#atBound,
      history: this.#history.slice(),
      startedAt: this.#t0,
      watching: this.#timer !== undefined,
      looks: this.#looks,
      warmed: Atomics.load(ctl, ControlWord.S_POOL_WARMED),
    };
  }

  /** The thread this monitor started with `threadId` (a spare or an extra), if it is alive. */
  thread(threadId: number): Worker | undefined {
    for (const w of this.#threads) if (w.threadId === threadId) return w;
    return undefined;
  }

  /**
   * Stop watching and stop the threads it started (after the pumps were told to shut down). A
   * thread inside a system call (a read on a pipe nobody writes) cannot be stopped until the call
   * returns: it is terminated, but not waited for, or close() would hang on it (as the runtime does
   * not wait for the piscina workers it ended for being stuck).
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    // Ends the pending Atomics.waitAsync of #idle (it would not keep the process alive either).
    Atomics.notify(this.#s.ctl, ControlWord.POOL_WATCH);
    const exits: Promise<number>[] = [];
    for (const w of this.#threads) {
      const exit = w.terminate();
      if (!this.#o.slots.inCall(w.threadId)) exits.push(exit);
    }
    await Promise.all(exits);
  }

  /** Arm the tick (work is in flight). */
  #watch(): void {
    if (this.#closed || this.#s.shutdownState() !== 0) return;
    // Submitters on other threads need not notify while this is 1 (wantPoolWatch).
    Atomics.store(this.#s.ctl, ControlWord.POOL_WATCH, 1);
    this.#timer = setTimeout(this.#tick, TICK_MS);
    // The monitor never keeps the process alive on its own.
    this.#timer.unref();
  }

  readonly #tick = (): void => {
    this.#timer = undefined;
    if (this.#closed || this.#s.shutdownState() !== 0) return;
    if (this.#check()) this.#watch();
    else this.#idle();
  };

  /**
   * Nothing in flight: no timer; wait on ControlWord.POOL_WATCH until a thread submits (wantPoolWatch) or an
   * extra retires. The runtime's own submissions call poke() instead.
   */
  #idle(): void {
    const ctl = this.#s.ctl;
    // Pairs with wantPoolWatch's CAS 0 -> 1 (see there): store 0, then look once more.
    Atomics.store(ctl, ControlWord.POOL_WATCH, 0);
    if (this.#check()) {
      this.#watch();
      return;
    }
    if (this.#listening || this.#closed) return;
    const r = Atomics.waitAsync(ctl, ControlWord.POOL_WATCH, 0);
    if (!r.async) {
      this.#watch();
      return;
    }
    this.#listening = true;
    void r.value.then(() => {
      this.#listening = false;
      if (this.#timer === undefined) this.#watch();
    });
  }

  /** One look at the pool. Returns whether work is in flight (queued or running). */
  #check(): boolean {
    const s = this.#s;
    const ctl = s.ctl;
    this.#noteRetirements();
    const now = s.ticks();
    this.#lastLook = now;
    this.#looks++;
    const threshold = BLOCKED_MS * TICKS_PER_MS;
    const { live, base, running, blocked, busy, joining } = this.#o.slots.census(now, threshold, this.#census);
    // The first sign of blocking (a worker asleep in the kernel in a stamped call): have a spare
    // ready for when all workers block.
    if (blocked > 0 && this.#mayStartSpare() && this.#waiting(threshold, now, false)) this.#spawnSpare();
    const queued = s.sq.size();
    // Extras that wait because enough workers computed (pump.ts, #capped), while those now block
    // and work waits: wake them (Go's sysmon hands the processor of a thread stuck in a call on).
    if (queued > 0 && busy < base) this.#wakeCapped();
    if (joining > 0) return true;
    if (queued === 0 || live === 0 || blocked < live) {
      this.#refusing = false;
      return queued > 0 || running > 0;
    }
    // Nothing to activate and a spare on its way (or the bound reached, below): no need to ask the
    // kernel about every worker on each look while it starts.
    const ready = Atomics.load(ctl, ControlWord.POOL_RESERVE) > 0;
    const atBound = this.#o.base + this.#threads.size >= this.#o.max && this.#sparesOrStarting() === 0;
    if (!ready && !atBound) {
      this.#spawnSpare();
      return true;
    }
    // A worker preempted in the middle of a short call looks blocked too, when the machine has no
    // core to spare; another thread would not help it. Grow only for workers that really wait.
    if (!this.#waiting(threshold, now, true)) return true;
    const who = live === 1 ? 'the only worker' : `all ${live} workers`;
    const why = `${who} blocked for ${BLOCKED_MS} ms or more in a system call or intercepted call while ${queued} request${queued === 1 ? '' : 's'} waited`;
    if (this.#o.slots.activateSpare()) {
      this.#grew++;
      this.#refusing = false;
      this.#record('grew', why);
    } else if (atBound) {
      if (!this.#refusing) {
        this.#refusing = true;
        this.#atBound++;
        this.#record('at bound', `${why}; maxWorkers (${this.#o.max}) reached`);
      }
    }
    // Keep a spare behind the one just used (or still missing), within the bound.
    this.#spawnSpare();
    return true;
  }

  /** Wake every idle extra waiting on its WorkerWord.PARK (pump.ts, #capped); each looks at the cap again. */
  #wakeCapped(): void {
    const s = this.#s;
    const ctl = s.ctl;
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      if (Atomics.load(ctl, b + WorkerWord.LIVE) !== 1 || Atomics.load(ctl, b + WorkerWord.ROLE) !== WorkerRole.EXTRA || Atomics.load(ctl, b + WorkerWord.CURRENT) >= 0) continue;
      // Pairs with the extra's load of WorkerWord.PARK before its Atomics.wait: it sleeps on the old value.
      Atomics.add(ctl, b + WorkerWord.PARK, 1);
      Atomics.notify(ctl, b + WorkerWord.PARK);
    }
  }

  /**
   * Whether the workers blocked in a stamped call (for `threshold` ticks or more) sleep in the kernel
   * (Linux: state S or D in /proc/self/task/TID/stat) rather than wait for a CPU (R): `all`, every
   * one of them; else at least one. Where the state cannot be read, the stamps alone decide.
   */
  #waiting(threshold: number, now: number, all: boolean): boolean {
    const s = this.#s;
    const ctl = s.ctl;
    for (let w = 0; w < s.maxWorkers; w++) {
      const b = s.workerBase(w);
      if (Atomics.load(ctl, b + WorkerWord.LIVE) !== 1) continue;
      const since = Atomics.load(ctl, b + WorkerWord.BLOCKED_SINCE);
      if (since === 0 || ((now - since) | 0) < threshold) continue;
      const tid = ctl[b + WorkerWord.OS_TID]!;
      // Unreadable (or no thread id): the stamp decides.
      const asleep = tid === 0 || this.#states.runnable(tid) !== true;
      if (all && !asleep) return false;
      if (!all && asleep) return true;
    }
    return all;
  }

  /** Whether #spawnSpare would start a thread now. */
  #mayStartSpare(): boolean {
    return !this.#closed && this.#o.base + this.#threads.size < this.#o.max && this.#sparesOrStarting() === 0;
  }

  #spawnSpare(): void {
    if (!this.#mayStartSpare()) return;
    const w = new Worker(this.#o.pumpFile, {
      workerData: { syslet: { ...this.#o.data, role: 'spare' } satisfies PumpData },
      // As for the base pool: fds are process-wide, a worker's exit must not close them.
      trackUnmanagedFds: false,
      // As for the base pool: one process environment, read as the caller has it now.
      env: SHARE_ENV,
      ...(this.#o.resourceLimits === undefined ? {} : { resourceLimits: this.#o.resourceLimits }),
    });
    w.unref();
    this.#threads.add(w);
    this.#started++;
    // Read now: a Worker's threadId is -1 once it stopped.
    const threadId = w.threadId;
    w.on('error', () => {});
    w.once('exit', () => {
      this.#threads.delete(w);
      this.#o.onExit(threadId);
    });
  }

  /** Threads this monitor started that are not (or not yet) extras: spares, and spares starting. */
  #sparesOrStarting(): number {
    return this.#threads.size - this.#o.slots.extras();
  }

  /** Extras retire on their own (pump.ts): note each in the history. */
  #noteRetirements(): void {
    const n = Atomics.load(this.#s.ctl, ControlWord.S_POOL_RETIRED);
    while (this.#retiredSeen < n) {
      this.#retiredSeen++;
      this.#record('retired', `an extra worker stayed idle for ${this.#s.ctl[ControlWord.POOL_IDLE_MS]} ms`);
    }
  }

  #record(change: PoolEvent['change'], reason: string): void {
    if (this.#history.length === HISTORY) this.#history.shift();
    this.#history.push({
      at: Math.round((sharedNow() - this.#t0) * 100) / 100,
      change,
      size: this.#o.slots.poolSize(),
      reason,
    });
  }
}
