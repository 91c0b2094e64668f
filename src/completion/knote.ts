/**
 * Knotes and the filter interface: the vocabulary shared by kqueue.ts and the filters.
 *
 * A knote is one registration, named by (ident, filter), with FreeBSD's state bits: ACTIVE (the
 * filter says something happened), QUEUED (on the kqueue's ready list), DISABLED (activity is kept
 * but hidden). `flags` holds the registration flags that persist and are echoed in delivered events
 * (EV_ONESHOT, EV_CLEAR, EV_DISPATCH, EV_RECEIPT, ...); `sfflags`/`sdata` are the filter's saved
 * parameters from the change; `fflags`/`data` are the pending state reported at retrieval.
 */
import type { ChildProcess } from 'node:child_process';
import type { FSWatcher, Stats } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { KEvent } from './constants.js';

export const KN_ACTIVE = 0x1;
export const KN_QUEUED = 0x2;
export const KN_DISABLED = 0x4;
/** Detached: deleted, or dropped after a one-shot delivery. */
export const KN_DETACHED = 0x8;

export class Knote {
  ident: unknown;
  readonly filter: number;
  flags: number;
  sfflags: number;
  sdata: number;
  fflags = 0;
  data = 0;
  udata: unknown;
  status = 0;
  /** Flags the filter adds to delivered events (EV_EOF). */
  outFlags = 0;
  /** Filter-private state: set by the filter's attach (or by the kqueue for completion knotes). */
  state: KnoteState = NO_STATE;
  /** Activation order on the ready list. */
  seq = 0;
  // Ready-list links (an intrusive doubly linked list, like FreeBSD's TAILQ).
  prev: Knote | null = null;
  next: Knote | null = null;

  constructor(ident: unknown, filter: number, flags: number, fflags: number, data: number, udata: unknown) {
    this.ident = ident;
    this.filter = filter;
    this.flags = flags;
    this.sfflags = fflags;
    this.sdata = data;
    this.udata = udata;
  }
}

// ---- filter state: one variant per filter, told apart by `kind` ---------------------------------

/** EVFILT_AIO / EVFILT_THREADLET: whether the request completed (a knote may precede it). */
export interface CompletionState {
  readonly kind: 'completion';
  done: boolean;
}

/** EVFILT_TIMER (filters.ts: timerAdvance, timerStart). */
export interface TimerState {
  readonly kind: 'timer';
  /** The next expiry, performance.now() ms; Infinity once a one-time timer expired. */
  next: number;
  /** Period in ms; 0 for a one-time timer (EV_ONESHOT or NOTE_ABSTIME: filt_timerstart's to = 0). */
  period: number;
  /** Expirations not yet retrieved: FreeBSD's kn_data for a timer. */
  count: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  host: KnoteHost;
}

/** EVFILT_USER: NOTE_TRIGGER was given and not cleared. */
export interface UserState {
  readonly kind: 'user';
  triggered: boolean;
}

/** EVFILT_SIGNAL: the process listener counting deliveries. */
export interface SignalState {
  readonly kind: 'signal';
  name: NodeJS.Signals;
  listener: () => void;
}

/** EVFILT_PROC: the child and its 'exit' listener. */
export interface ProcState {
  readonly kind: 'proc';
  child: ChildProcess;
  listener: (code: number | null, signal: NodeJS.Signals | null) => void;
}

/** EVFILT_VNODE: a descriptor held open on the vnode, its watcher and its last fstat. */
export interface VnodeState {
  readonly kind: 'vnode';
  fd: number;
  /** Set right after the state is made (its callback reads the state). */
  watcher: FSWatcher | undefined;
  path: string;
  last: Stats;
}

/** EVFILT_READ / EVFILT_WRITE: the stream and the listeners attached to it. */
export interface StreamState {
  readonly kind: 'stream';
  stream: Readable | Writable;
  listeners: [string, (...a: unknown[]) => void][];
  /** 'finish', 'close' or 'error' was seen (for EVFILT_WRITE: no more can be written). */
  done: boolean;
}

/** Before a filter attached (or after its attach refused the knote). */
export interface NoState {
  readonly kind: 'none';
}

export type KnoteState =
  | NoState
  | CompletionState
  | TimerState
  | UserState
  | SignalState
  | ProcState
  | VnodeState
  | StreamState;

export const NO_STATE: NoState = Object.freeze({ kind: 'none' });

/**
 * The knote's state, which must be of `kind`: a filter reading another filter's state (or one that
 * never attached) is a bug, refused loudly rather than read as the wrong shape.
 */
export function stateOf<K extends KnoteState['kind']>(kn: Knote, kind: K): Extract<KnoteState, { kind: K }> {
  const st = kn.state;
  if (st.kind !== kind) {
    throw new Error(`knote (filter ${kn.filter}, ident ${String(kn.ident)}): expected ${kind} state, got ${st.kind}`);
  }
  // The check above is the narrowing TypeScript cannot do through the generic.
  return st as Extract<KnoteState, { kind: K }>;
}

/** What a filter may ask of its kqueue. */
export interface KnoteHost {
  /** Something happened on `kn`: mark it active and queue it unless disabled. */
  activate(kn: Knote): void;
  /** Throw away undelivered activity (a re-added timer). */
  deactivate(kn: Knote): void;
}

export interface Filter {
  readonly name: string;
  /** Flags every knote of this filter carries (EV_CLEAR for signals and processes; a timer's attach sets it). */
  readonly implicitFlags: number;
  /** Set up a new knote. Returns 0 or an errno. */
  attach(host: KnoteHost, kn: Knote, kev: KEvent): number;
  /** Tear it down (listeners, timers, descriptors). */
  detach(kn: Knote): void;
  /** Is the knote's condition true now? Re-checked at retrieval for level-triggered knotes. */
  event(kn: Knote): boolean;
  /** A change on an existing knote (FreeBSD's f_touch EVENT_REGISTER). Returns 0 or an errno. */
  touch?(host: KnoteHost, kn: Knote, kev: KEvent): number;
  /**
   * Fill a delivered event (FreeBSD's f_touch EVENT_PROCESS), including any reset. A filter
   * without one is reset by the scan (EV_CLEAR zeroes data and fflags). A filter may set EV_DROP in
   * `flags` and activate the knote: the scan then removes it without an event (filt_proc).
   */
  process?(kn: Knote, out: KEvent): void;
}
