/**
 * Knotes and the filter interface: the vocabulary shared by kqueue.ts and the filters.
 *
 * A knote is one registration, named by (ident, filter), with FreeBSD's state bits: ACTIVE (the
 * filter says something happened), QUEUED (on the kqueue's ready list), DISABLED (activity is kept
 * but hidden). `flags` holds the registration flags that persist and are echoed in delivered events
 * (EV_ONESHOT, EV_CLEAR, EV_DISPATCH, EV_RECEIPT, ...); `sfflags`/`sdata` are the filter's saved
 * parameters from the change; `fflags`/`data` are the pending state reported at retrieval.
 */
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
  /** Filter-private state. */
  state: unknown = undefined;
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
