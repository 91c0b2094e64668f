/**
 * kqueue/kevent over the completion ring, following FreeBSD's kevent(2).
 *
 * A Kqueue owns a completion queue in shared memory. Requests submitted with `{ kq }` complete into
 * it; kevent reads the records straight from the ring in batches and turns each into an
 * EVFILT_AIO (or EVFILT_THREADLET) event: no message and no Promise per completion. The other
 * filters (timers, user events, Node streams, signals, child processes, vnodes) live on the
 * kqueue's thread as JavaScript knotes on the same ready list.
 *
 * kevent(changes, nevents, timeout) applies the changes in order, then collects up to `nevents`
 * ready events, waiting if there are none (timeout in ms: null waits, 0 polls). Error rules, flags
 * and the ready-list scan are FreeBSD's (sys/kern/kern_event.c): a failing change becomes an
 * EV_ERROR entry while there is room, otherwise the call fails with that errno and later changes
 * are not applied; if any entry was produced that way (or by EV_RECEIPT) no events are collected.
 */
import { EventCount, Keepalive, spinUntil } from 'atomics-sync';
import type { Client, Submission } from '../syslet/client.js';
import { errno, errnoName } from '../syslet/errno.js';
import type { SharedState } from '../syslet/shared.js';
import { RequestFlag, RequestKind, entryFieldsMake, entryRead, entryResult, type Completion } from '../syslet/entry.js';
import {
  EVFILT_AIO,
  EVFILT_THREADLET,
  EVFILT_TIMER,
  EVFILT_USER,
  EV_ADD,
  EV_CLEAR,
  EV_DELETE,
  EV_DISABLE,
  EV_DISPATCH,
  EV_DROP,
  EV_ENABLE,
  EV_ERROR,
  EV_FORCEONESHOT,
  EV_KEEPUDATA,
  EV_ONESHOT,
  EV_RECEIPT,
  EV_SYSFLAGS,
  NOTE_FFLAGSMASK,
  type KEvent,
} from './constants.js';
import { FILTERS, FILTER_NAMES, timerDeadline, timerPoll, trackChildren } from './filters.js';
import { KN_ACTIVE, KN_DETACHED, KN_DISABLED, KN_QUEUED, Knote, type KnoteHost } from './knote.js';

/** A kevent call that failed: carries the errno and its name. */
export class KqueueError extends Error {
  override name = 'KqueueError';
  readonly code: string;
  constructor(
    readonly errno: number,
    message: string,
  ) {
    const code = errnoName(errno) ?? `E${errno}`;
    super(`${code}: ${message}`);
    this.code = code;
  }
}

export interface WaitOptions {
  /** Resolve once at least this many events are ready. @default 1 */
  min?: number;
  /** Never return more than this many. @default 1024 */
  max?: number;
  /** Milliseconds; null or absent waits for `min`; 0 polls. @default null */
  timeout?: number | null;
}

/** What a Kqueue needs from its runtime on this thread. */
export interface KqueueHost {
  readonly s: SharedState;
  /** This thread's client (settles submissions it made). */
  readonly client: Client;
  /** Spin budget (µs) before parking. */
  readonly spinUs: number;
}

/** A shared kqueue's handle: what crosses to another thread (structured-clone safe). */
export interface KqueueHandle {
  readonly cq: number;
}

interface Waiter {
  min: number;
  max: number;
  buf: KEvent[];
  resolve: (evs: KEvent[]) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  deadline: number;
}

const CHANGE_FLAGS_STRIPPED = EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | EV_FORCEONESHOT;
const INGEST_BATCH = 1024;
/** Answers ready at once, in a row without a turn of the event loop, before kevent yields one turn. */
const HOT_LIMIT = 100;

export class Kqueue implements KnoteHost, AsyncIterable<KEvent> {
  /** The completion queue requests submitted with `{ kq: this }` complete into. */
  readonly cq: number;
  readonly #host: KqueueHost;
  readonly #s: SharedState;
  /** This kqueue's registered knotes: filter -> ident -> knote. */
  readonly #knotes = new Map<number, Map<unknown, Knote>>();
  // The ready list (FreeBSD's kq_head).
  #head: Knote | null = null;
  #tail: Knote | null = null;
  #queued = 0;
  /**
   * Completion events without a knote of their own (the common case: nobody changed their knote),
   * FIFO, beside the ready list. Each ready item carries a sequence number so that a scan takes
   * them in activation order across both lists.
   */
  #aio: KEvent[] = [];
  #aioSeq: number[] = [];
  #aioHead = 0;
  #seq = 0;
  #waiters: Waiter[] = [];
  /** kevent calls answered at once since the event loop last turned (see #answer). */
  #hot = 0;
  /**
   * The earliest deadline of this kqueue's timers not yet counted (performance.now() ms); below it
   * a scan need not look at them. -Infinity after a timer change makes the next scan look.
   */
  #timerHorizon = Infinity;
  /** The fflags a change's EV_ERROR / EV_RECEIPT entry echoes (kqueue_register may rewrite them). */
  #echoFflags = 0;
  #serveScheduled = false;
  #closed = false;
  /** Submissions from this thread that complete here and have not settled. */
  #outstanding = 0;
  /** Another thread may reap this queue (share() was called, or this is an attached view). */
  #shared: boolean;
  /** Only this kqueue's first owner releases the queue. */
  readonly #owner: boolean;
  readonly #keepalive = new Keepalive();
  #watching = false;
  readonly #reapBuf = new Int32Array(INGEST_BATCH);
  /** The event fields of the entry being ingested (reused). */
  readonly #event = entryFieldsMake();

  /** @internal Use rt.kqueue() (or rt.attachKqueue(handle) on another thread). */
  constructor(host: KqueueHost, handle?: KqueueHandle) {
    this.#host = host;
    this.#s = host.s;
    trackChildren();
    if (handle === undefined) {
      const cq = host.s.claimCq();
      if (cq < 0) throw new KqueueError(errno.EMFILE, 'kqueue: no free completion queue (option maxQueues)');
      this.cq = cq;
      this.#owner = true;
      this.#shared = false;
    } else {
      this.cq = handle.cq;
      this.#owner = false;
      this.#shared = true;
    }
  }

  /**
   * Make this kqueue usable from another thread: pass the handle to the thread (postMessage,
   * workerData) and call `rt.attachKqueue(handle)` there with a runtime attached to the same one.
   * From then on completions wait in the ring until some thread's kevent reaps them.
   */
  share(): KqueueHandle {
    this.#checkOpen('share');
    this.#shared = true;
    this.#host.client.unwatchQueue(this.cq);
    return { cq: this.cq };
  }

  /**
   * Apply `changes` in order, then resolve with up to `nevents` events. `timeout` in milliseconds
   * (fractions allowed): null or absent waits, 0 polls, negative is EINVAL.
   */
  kevent(changes: readonly KEvent[] | null | undefined, nevents: number, timeout?: number | null): Promise<KEvent[]> {
    try {
      const now = this.#begin(changes, nevents, timeout);
      if (now.done) return this.#answer(now.events);
      return this.#wait(1, nevents, now.timeout, now.events);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Resolve an answer that was ready at once. In a microtask, normally; but a loop that keeps
   * finding events ready (a level-triggered knote nobody reads), or keeps polling with timeout 0,
   * would then never let the event loop turn, and no I/O (more data, the peer's end) could ever
   * arrive. So after HOT_LIMIT such answers with no turn of the event loop in between, the next one
   * waits for a turn (setImmediate).
   */
  #answer(events: KEvent[]): Promise<KEvent[]> {
    if (this.#hot++ === 0) setImmediate(this.#cool);
    if (this.#hot <= HOT_LIMIT) return Promise.resolve(events);
    return new Promise((resolve) => setImmediate(resolve, events));
  }

  readonly #cool = (): void => {
    this.#hot = 0;
  };

  /**
   * kevent, blocking the thread with Atomics.wait: for worker threads. It waits for completions
   * and timers; other sources (streams, signals, child processes, vnodes) deliver only through
   * their JavaScript callbacks, which run between calls, so it sees them when it returns to them.
   */
  keventSync(changes: readonly KEvent[] | null | undefined, nevents: number, timeout?: number | null): KEvent[] {
    const now = this.#begin(changes, nevents, timeout);
    if (now.done) return now.events;
    const out = now.events;
    const deadline = now.timeout === Infinity ? Infinity : performance.now() + now.timeout;
    const consumers = this.#s.cqs[this.cq]!.ring.consumers;
    for (;;) {
      this.#ingest();
      this.#scan(nevents, out);
      if (out.length > 0) return out;
      const left = deadline - performance.now();
      if (left <= 0) return out;
      // Wake for the next timer deadline too: no Node timer can run while this thread blocks.
      const until = Math.min(left, this.#timerHorizon - performance.now());
      consumers.waitUntil(this.#ringReady, Math.min(this.#host.spinUs, until * 1000), Math.max(0, until));
      if (this.#closed) throw new KqueueError(errno.EBADF, 'kevent: the kqueue was closed');
    }
  }

  /** Records wait in this kqueue's ring, or it was closed (close() notifies the ring's waiters). */
  readonly #ringReady = (): boolean => this.#closed || this.#s.cqs[this.cq]!.ready();

  /**
   * Wait for a batch (Polyakov's kevent_get_events): resolves when at least `min` events are ready
   * or the timeout passes (then with what there is, possibly none), never with more than `max`.
   */
  wait(opts: WaitOptions = {}): Promise<KEvent[]> {
    const min = opts.min ?? 1;
    const max = opts.max ?? 1024;
    const timeout = opts.timeout ?? null;
    if (!Number.isInteger(min) || min < 0) return this.#reject('wait: min', `a non-negative integer, got ${String(min)}`);
    if (!Number.isInteger(max) || max < 1 || max < min) {
      return this.#reject('wait: max', `an integer >= max(1, min), got ${String(max)}`);
    }
    try {
      this.#checkOpen('wait');
      const t = this.#timeoutOf(timeout);
      const out: KEvent[] = [];
      this.#ingest();
      this.#scan(max, out);
      if (out.length >= min || t === 0 || out.length === max) return this.#answer(out);
      return this.#wait(min, max, t, out);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Events one at a time, until the kqueue is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<KEvent> {
    for (;;) {
      let evs: KEvent[];
      try {
        evs = await this.kevent(null, 64);
      } catch (e) {
        if (e instanceof KqueueError && e.errno === errno.EBADF) return;
        throw e;
      }
      for (const ev of evs) yield ev;
    }
  }

  /** Close: every waiter fails with EBADF, every knote is detached; later calls fail with EBADF. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = new KqueueError(errno.EBADF, 'kevent: the kqueue was closed');
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.reject(err);
    }
    for (const byIdent of this.#knotes.values()) for (const kn of byIdent.values()) this.#drop(kn);
    this.#knotes.clear();
    while (this.#head !== null) this.#dequeue(this.#head);
    this.#aio = [];
    this.#aioSeq = [];
    this.#aioHead = 0;
    this.#keepalive.dispose();
    // Wake a keventSync parked on the ring (another thread's view of a shared kqueue).
    this.#s.cqs[this.cq]!.ring.consumers.notifyAll();
    if (this.#owner) {
      if (this.#outstanding === 0) {
        this.#host.client.unwatchQueue(this.cq);
        this.#s.releaseCq(this.cq);
      } else {
        // Submissions still in flight complete here: keep reaping so they settle, then release.
        this.#host.client.watchQueue(this.cq, () => this.#ingest());
      }
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- KnoteHost -----------------------------------------------------------------------------

  activate(kn: Knote): void {
    if ((kn.status & KN_DETACHED) !== 0) return;
    kn.status |= KN_ACTIVE;
    if ((kn.status & (KN_DISABLED | KN_QUEUED)) === 0) this.#enqueue(kn);
    this.#kick();
  }

  /** Something became ready: serve the pending waiters in a microtask (once however many). */
  #kick(): void {
    if (this.#waiters.length > 0 && !this.#serveScheduled) {
      this.#serveScheduled = true;
      queueMicrotask(this.#serve);
    }
  }

  /**
   * Request `id` completed with `data`: its knote (one a change made) becomes active, or, with
   * none, the event goes on the completion list. A tombstone (deleted before it completed) is
   * removed and makes no event.
   */
  #completed(filter: number, id: number, data: number, udata: unknown): void {
    const kn = this.#knotes.size === 0 ? undefined : this.#knotes.get(filter)?.get(id);
    if (kn === undefined) {
      // Fast path: the event itself goes on the completion list.
      this.#aio.push({ ident: id, filter, flags: EV_ONESHOT, fflags: 0, data, udata });
      this.#aioSeq.push(++this.#seq);
      return;
    }
    if ((kn.status & KN_DETACHED) !== 0) {
      this.#knotes.get(filter)!.delete(id);
      return;
    }
    kn.data = data;
    kn.state = { kind: 'completion', done: true };
    this.activate(kn);
  }

  deactivate(kn: Knote): void {
    kn.status &= ~KN_ACTIVE;
    if ((kn.status & KN_QUEUED) !== 0) this.#dequeue(kn);
  }

  // ---- with the runtime ----------------------------------------------------------------------

  /** @internal A submission from this thread will complete here. */
  targetStarted(): void {
    this.#outstanding++;
    if (this.#outstanding === 1 && !this.#shared) this.#host.client.watchQueue(this.cq, () => this.#ingest());
  }

  /** @internal It settled without reaching the ring: its event is made here. */
  targetUnstarted(sub: Submission, c: Completion): void {
    if (this.#closed) return;
    this.#completed(filterOfKind(sub.kind), sub.id, c.result, sub.udata);
    this.#kick();
  }

  /** @internal It settled. */
  targetSettled(): void {
    this.#outstanding--;
    if (this.#outstanding === 0) {
      if (!this.#shared) this.#host.client.unwatchQueue(this.cq);
      if (this.#closed && this.#owner) {
        this.#host.client.unwatchQueue(this.cq);
        this.#s.releaseCq(this.cq);
      }
    }
  }

  // ---- the call --------------------------------------------------------------------------------

  #begin(
    changes: readonly KEvent[] | null | undefined,
    nevents: number,
    timeout: number | null | undefined,
  ): { done: boolean; events: KEvent[]; timeout: number } {
    this.#checkOpen('kevent');
    if (!Number.isInteger(nevents) || nevents < 0) {
      throw new KqueueError(errno.EINVAL, `kevent: nevents: expected a non-negative integer, got ${String(nevents)}`);
    }
    const out: KEvent[] = [];
    if (changes !== null && changes !== undefined) {
      if (!Array.isArray(changes)) {
        throw new TypeError(`kevent: changelist: expected an array of kevents or null, got ${typeof changes}`);
      }
      this.#applyChanges(changes, nevents, out);
      // Any error or receipt entry: return them, collect nothing (FreeBSD's kern_kevent).
      if (out.length > 0) return { done: true, events: out, timeout: 0 };
    }
    // kqueue_scan returns at once for nevents 0, before it looks at the timeout; otherwise the
    // timeout is checked after the changes.
    if (nevents === 0) return { done: true, events: out, timeout: 0 };
    const t = this.#timeoutOf(timeout);
    this.#ingest();
    this.#scan(nevents, out);
    return { done: out.length > 0 || t === 0, events: out, timeout: t };
  }

  #timeoutOf(timeout: number | null | undefined): number {
    if (timeout === null || timeout === undefined) return Infinity;
    if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) {
      throw new KqueueError(errno.EINVAL, `kevent: timeout: expected null or a non-negative number of ms, got ${String(timeout)}`);
    }
    return timeout;
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw new KqueueError(errno.EBADF, `${what}: the kqueue is closed`);
  }

  #reject(what: string, expected: string): Promise<never> {
    return Promise.reject(new KqueueError(errno.EINVAL, `${what}: expected ${expected}`));
  }

  #applyChanges(changes: readonly KEvent[], nevents: number, out: KEvent[]): void {
    for (let i = 0; i < changes.length; i++) {
      const kev = changes[i];
      if (typeof kev !== 'object' || kev === null || typeof kev.filter !== 'number' || typeof kev.flags !== 'number') {
        throw new TypeError(
          `kevent: changelist[${i}]: expected { ident, filter, flags, fflags, data, udata } (use EV_SET), got ${JSON.stringify(kev) ?? String(kev)}`,
        );
      }
      if (kev.filter === 0) continue;
      const flags = kev.flags & ~EV_SYSFLAGS;
      this.#echoFflags = (kev.fflags ?? 0) >>> 0;
      const err = this.#register(kev, flags);
      if (err !== 0 || (flags & EV_RECEIPT) !== 0) {
        if (out.length >= nevents) {
          if (err === 0) return;
          throw new KqueueError(
            err,
            `kevent: changelist[${i}] (${FILTER_NAMES.get(kev.filter) ?? `filter ${kev.filter}`}, ident ${describeIdent(kev.ident)}) failed and the eventlist has no room to report it; later changes were not applied`,
          );
        }
        out.push({ ident: kev.ident, filter: kev.filter, flags: EV_ERROR, fflags: this.#echoFflags, data: err, udata: kev.udata });
      }
    }
  }

  /**
   * FreeBSD's kqueue_register. Returns 0 or an errno.
   *
   * - EV_ENABLE with EV_DISABLE, an unknown filter, EV_ADD with EV_KEEPUDATA: EINVAL.
   * - No knote and no EV_ADD: ENOENT. A new knote keeps the change's flags less the actions
   *   (EV_ADD, EV_DELETE, EV_ENABLE, EV_DISABLE, EV_FORCEONESHOT), starts disabled with EV_DISABLE,
   *   and its filter's attach may refuse it (its error entry then echoes fflags 0, as the kernel
   *   has zeroed them by then).
   * - On an existing knote: EV_DELETE removes it; EV_FORCEONESHOT makes it one-shot and activates
   *   it; EV_ENABLE clears the disabled state, else EV_DISABLE sets it (EV_ADD does neither: the
   *   knote stays as it was); udata is replaced unless EV_KEEPUDATA; the filter's touch takes the
   *   change (EVFILT_TIMER, EVFILT_USER), or else fflags and data replace the saved ones. Its flags
   *   (EV_CLEAR, EV_ONESHOT, EV_DISPATCH, EV_RECEIPT) stay as they were.
   * - Then, unless disabled, the filter's event decides whether it is active; an active knote that
   *   is neither disabled nor queued is queued.
   */
  #register(kev: KEvent, flags: number): number {
    if ((flags & (EV_ENABLE | EV_DISABLE)) === (EV_ENABLE | EV_DISABLE)) return errno.EINVAL;
    const filter = FILTERS.get(kev.filter);
    if (filter === undefined) return errno.EINVAL;
    if ((flags & EV_ADD) !== 0 && (flags & EV_KEEPUDATA) !== 0) return errno.EINVAL;
    if (kev.filter === EVFILT_TIMER) this.#timerHorizon = -Infinity;
    let kn = this.#find(kev.ident, kev.filter);
    if (kn === undefined) {
      if ((flags & EV_ADD) === 0) return errno.ENOENT;
      this.#echoFflags = 0;
      kn = new Knote(
        kev.ident,
        kev.filter,
        (flags & ~CHANGE_FLAGS_STRIPPED) | filter.implicitFlags,
        (kev.fflags ?? 0) >>> 0,
        kev.data ?? 0,
        kev.udata,
      );
      if ((flags & EV_DISABLE) !== 0) kn.status |= KN_DISABLED;
      const err = filter.attach(this, kn, kev);
      if (err !== 0) {
        // Refused: never registered (the filter set nothing up, so there is nothing to detach).
        if ((kn.status & KN_QUEUED) !== 0) this.#dequeue(kn);
        kn.status |= KN_DETACHED;
        return err;
      }
      this.#byIdent(kev.filter).set(kev.ident, kn);
    } else {
      if ((flags & EV_DELETE) !== 0) {
        if (kn.state.kind === 'completion' && !kn.state.done) {
          // The request has not completed: keep a tombstone so its completion posts no event.
          this.#drop(kn);
        } else {
          this.#forget(kn);
        }
        return 0;
      }
      if ((flags & EV_FORCEONESHOT) !== 0) {
        kn.flags |= EV_ONESHOT;
        this.activate(kn);
      }
      // A disabled knote that is still on the ready list stays there (the scan skips it), so that
      // enabling it again keeps its place, as in FreeBSD.
      if ((flags & EV_ENABLE) !== 0) kn.status &= ~KN_DISABLED;
      else if ((flags & EV_DISABLE) !== 0) kn.status |= KN_DISABLED;
      if ((flags & EV_KEEPUDATA) === 0) kn.udata = kev.udata;
      if (filter.touch !== undefined) {
        const err = filter.touch(this, kn, kev);
        if (err !== 0) return err;
        if (kn.filter === EVFILT_USER) this.#echoFflags &= NOTE_FFLAGSMASK;
      } else if (kn.filter !== EVFILT_AIO && kn.filter !== EVFILT_THREADLET) {
        kn.sfflags = (kev.fflags ?? 0) >>> 0;
        kn.sdata = kev.data ?? 0;
      }
    }
    if ((kn.status & KN_DISABLED) === 0 && filter.event(kn)) kn.status |= KN_ACTIVE;
    if ((kn.status & (KN_ACTIVE | KN_DISABLED | KN_QUEUED)) === KN_ACTIVE) this.#enqueue(kn);
    if ((kn.status & KN_QUEUED) !== 0) this.#kick();
    return 0;
  }

  #find(ident: unknown, filter: number): Knote | undefined {
    const kn = this.#knotes.get(filter)?.get(ident);
    if (kn !== undefined) return kn;
    if (filter !== EVFILT_AIO && filter !== EVFILT_THREADLET) return undefined;
    // Every completion knote is in #knotes. A ready completion event (on the #aio list) or a
    // request that has not completed yet has none: make it now, so a change can disable or delete
    // it ahead of time.
    for (let k = this.#aioHead; k < this.#aio.length; k++) {
      const ev = this.#aio[k]!;
      if (ev.filter === filter && ev.ident === ident) {
        // A ready completion event that a change names: give it a knote in its place.
        const kn = new Knote(ident, filter, EV_ONESHOT, 0, 0, ev.udata);
        kn.data = ev.data;
        kn.state = { kind: 'completion', done: true };
        this.#aio.splice(k, 1);
        this.#aioSeq.splice(k, 1);
        this.#byIdent(filter).set(ident, kn);
        this.activate(kn);
        return kn;
      }
    }
    if (typeof ident !== 'number') return undefined;
    const sub = this.#host.client.find(ident);
    if (sub === undefined || sub.target !== this) return undefined;
    const created = new Knote(ident, filter, EV_ONESHOT, 0, 0, sub.udata);
    created.state = { kind: 'completion', done: false };
    this.#byIdent(filter).set(ident, created);
    return created;
  }

  #byIdent(filter: number): Map<unknown, Knote> {
    let m = this.#knotes.get(filter);
    if (m === undefined) this.#knotes.set(filter, (m = new Map()));
    return m;
  }

  /** Delete a knote (EV_DELETE, or after a one-shot delivery). */
  #forget(kn: Knote): void {
    this.#knotes.get(kn.filter)?.delete(kn.ident);
    this.#drop(kn);
  }

  #drop(kn: Knote): void {
    if ((kn.status & KN_QUEUED) !== 0) this.#dequeue(kn);
    if ((kn.status & KN_DETACHED) === 0) {
      kn.status |= KN_DETACHED;
      FILTERS.get(kn.filter)?.detach(kn);
    }
  }

  // ---- completions from the ring -------------------------------------------------------------

  /**
   * Move completion records from this kqueue's ring into events: each becomes an active one-shot
   * knote. The submitting thread's submission settles here (or, when another thread submitted it,
   * the record goes on to that thread's queue to settle there). Returns how many were taken.
   */
  #ingest(): number {
    const s = this.#s;
    const q = s.cqs[this.cq]!;
    const buf = this.#reapBuf;
    const client = this.#host.client;
    const ev = this.#event;
    let total = 0;
    for (;;) {
      const n = q.reap(buf, INGEST_BATCH);
      for (let k = 0; k < n; k++) {
        const idx = buf[k]!;
        entryRead(s, idx, ev);
        const id = ev.id >>> 0;
        const flags = ev.flags;
        const filter = filterOfKind(ev.kind);
        const result = entryResult(s, idx);
        let udata: unknown;
        if (ev.owner === client.cq) {
          udata = client.settleOwned(idx)?.udata;
        } else {
          udata = (flags & RequestFlag.UDATA_NUMBER) !== 0 ? ev.udata : null;
          // Another thread submitted it: its submission settles (and frees the entry) there.
          s.cqs[ev.owner]!.post(idx);
        }
        if ((flags & RequestFlag.NO_COMPLETE) !== 0 || this.#closed) continue;
        this.#completed(filter, id, result, udata);
      }
      total += n;
      if (n < INGEST_BATCH) break;
    }
    // Hand what came to the parked waiters now, in the reaper's own turn: a microtask more would
    // wait behind the rest of that turn.
    if (total > 0) this.#handOut();
    return total;
  }

  /** Ready items (knotes on the ready list and completion events). */
  get #ready(): number {
    return this.#queued + this.#aio.length - this.#aioHead;
  }

  // ---- the ready list ------------------------------------------------------------------------

  #enqueue(kn: Knote): void {
    kn.status |= KN_QUEUED;
    kn.seq = ++this.#seq;
    kn.prev = this.#tail;
    kn.next = null;
    if (this.#tail === null) this.#head = kn;
    else this.#tail.next = kn;
    this.#tail = kn;
    this.#queued++;
  }

  #dequeue(kn: Knote): void {
    kn.status &= ~KN_QUEUED;
    if (kn.prev === null) this.#head = kn.next;
    else kn.prev.next = kn.next;
    if (kn.next === null) this.#tail = kn.prev;
    else kn.next.prev = kn.prev;
    kn.prev = kn.next = null;
    this.#queued--;
  }

  /**
   * Collect up to `max` events into `out` (FreeBSD's kqueue_scan, one pass over the list): timers
   * whose deadline passed are counted first; a disabled knote leaves the list; an EV_DROP knote is
   * removed without an event; a one-shot knote is delivered without asking its filter again and
   * removed; any other is delivered only if its filter still says so, then EV_CLEAR resets it,
   * EV_DISPATCH disables it, and a level-triggered one goes back to the end of the list (returned
   * at most once per call).
   */
  #scan(max: number, out: KEvent[]): void {
    this.#pollTimers();
    let budget = this.#queued;
    for (;;) {
      if (out.length >= max) break;
      const aio = this.#aio;
      const aioReady = this.#aioHead < aio.length;
      if (aioReady && (this.#head === null || budget <= 0 || this.#aioSeq[this.#aioHead]! < this.#head.seq)) {
        // A completion event: one-shot, delivered as made.
        out.push(aio[this.#aioHead]!);
        aio[this.#aioHead++] = undefined as unknown as KEvent;
        if (this.#aioHead === aio.length) {
          this.#aio = [];
          this.#aioSeq = [];
          this.#aioHead = 0;
        }
        continue;
      }
      if (budget-- <= 0 || this.#head === null) break;
      const kn = this.#head;
      this.#dequeue(kn);
      if ((kn.status & KN_DISABLED) !== 0) continue;
      const filter = FILTERS.get(kn.filter)!;
      if ((kn.flags & EV_DROP) !== 0) {
        this.#forget(kn);
        continue;
      }
      if ((kn.flags & EV_ONESHOT) !== 0) {
        out.push(this.#deliver(kn, filter));
        this.#forget(kn);
        continue;
      }
      if (!filter.event(kn)) {
        kn.status &= ~KN_ACTIVE;
        continue;
      }
      out.push(this.#deliver(kn, filter));
      if ((kn.flags & (EV_CLEAR | EV_DISPATCH)) !== 0) {
        if (filter.process === undefined && (kn.flags & EV_CLEAR) !== 0) {
          kn.data = 0;
          kn.fflags = 0;
        }
        if ((kn.flags & EV_DISPATCH) !== 0) kn.status |= KN_DISABLED;
        kn.status &= ~KN_ACTIVE;
      } else {
        // Level-triggered: back on the list, returned again while its condition holds.
        this.#enqueue(kn);
      }
    }
  }

  #deliver(kn: Knote, filter: { process?: (kn: Knote, out: KEvent) => void }): KEvent {
    const ev: KEvent = {
      ident: kn.ident,
      filter: kn.filter,
      flags: kn.flags | kn.outFlags,
      fflags: kn.fflags,
      data: kn.data,
      udata: kn.udata,
    };
    if (filter.process !== undefined) filter.process(kn, ev);
    // fflags are unsigned 32-bit (NOTE_EXIT is 0x80000000), whatever JS bit operations made of them.
    ev.fflags >>>= 0;
    return ev;
  }

  // ---- waiting ---------------------------------------------------------------------------------

  #wait(min: number, max: number, timeout: number, buf: KEvent[]): Promise<KEvent[]> {
    return new Promise<KEvent[]>((resolve, reject) => {
      const w: Waiter = {
        min,
        max,
        buf,
        resolve,
        reject,
        timer: undefined,
        deadline: timeout === Infinity ? Infinity : performance.now() + timeout,
      };
      if (timeout !== Infinity) this.#armTimeout(w);
      this.#waiters.push(w);
      this.#keepalive.hold();
      this.#watch();
    });
  }

  #armTimeout(w: Waiter): void {
    // Node timers have millisecond granularity and may fire a little early; a kevent timeout is a
    // lower bound, so re-arm until the deadline really passed.
    const left = w.deadline - performance.now();
    w.timer = setTimeout(() => {
      if (performance.now() < w.deadline) {
        this.#armTimeout(w);
        return;
      }
      w.timer = undefined;
      // Taking what the ring holds may already have served this waiter.
      this.#ingest();
      if (!this.#waiters.includes(w)) return;
      this.#scan(w.max, w.buf);
      this.#finish(w);
    }, Math.max(1, Math.ceil(left)));
  }

  #finish(w: Waiter): void {
    const i = this.#waiters.indexOf(w);
    if (i >= 0) this.#waiters.splice(i, 1);
    if (w.timer !== undefined) clearTimeout(w.timer);
    if (this.#waiters.length === 0) this.#keepalive.release();
    w.resolve(w.buf);
  }

  /** Take what the ring holds and hand ready events to the waiters (a microtask after activity). */
  readonly #serve = (): void => {
    this.#serveScheduled = false;
    if (this.#closed) return;
    if (this.#ingest() === 0) this.#handOut();
  };

  /** Hand ready events to waiters in arrival order: each event goes to exactly one waiter. */
  #handOut(): void {
    while (this.#waiters.length > 0 && this.#ready > 0) {
      const w = this.#waiters[0]!;
      this.#scan(w.max, w.buf);
      if (w.buf.length >= w.min || w.buf.length >= w.max) this.#finish(w);
      else break;
    }
  }

  /**
   * While a waiter is pending on a shared kqueue, watch the ring (an unshared one is drained by this
   * thread's reaper, which spins and parks for all of its queues).
   */
  #watch(): void {
    if (this.#watching || !this.#shared) return;
    this.#watching = true;
    void this.#watchLoop();
  }

  async #watchLoop(): Promise<void> {
    const counts = [this.#s.cqs[this.cq]!.ring.consumers];
    try {
      while (this.#waiters.length > 0 && !this.#closed) {
        if (!spinUntil(this.#ringReady, this.#host.spinUs)) {
          const woken = EventCount.waitAnyAsync(counts, this.#ringReady, 1000);
          if (woken !== undefined) await woken;
        }
        this.#serve();
        await null;
      }
    } finally {
      this.#watching = false;
    }
  }

  /** Count the expirations of this kqueue's timers that passed by now, and activate those timers. */
  #pollTimers(): void {
    const timers = this.#knotes.get(EVFILT_TIMER);
    if (timers === undefined || timers.size === 0) {
      this.#timerHorizon = Infinity;
      return;
    }
    const now = performance.now();
    if (now < this.#timerHorizon) return;
    let horizon = Infinity;
    // Timers that expired since the last look are activated in deadline order, as FreeBSD's
    // callouts fire them (filt_timerexpire runs per expiry), whatever order they were added in.
    const due: Knote[] = [];
    for (const kn of timers.values()) {
      if (timerDeadline(kn) <= now) due.push(kn);
      else horizon = Math.min(horizon, timerDeadline(kn));
    }
    if (due.length > 1) due.sort((a, b) => timerDeadline(a) - timerDeadline(b));
    for (const kn of due) horizon = Math.min(horizon, timerPoll(this, kn, now));
    this.#timerHorizon = horizon;
  }
}

function describeIdent(ident: unknown): string {
  if (typeof ident === 'number' || typeof ident === 'string') return JSON.stringify(ident);
  if (typeof ident === 'object' && ident !== null) return `a ${ident.constructor?.name ?? 'object'}`;
  return String(ident);
}

/** The filter a request's completion event carries: EVFILT_THREADLET for threadlets, else EVFILT_AIO. */
function filterOfKind(kind: number): number {
  return kind === RequestKind.THREADLET ? EVFILT_THREADLET : EVFILT_AIO;
}
