/**
 * The request table: one fixed-size entry per request slot, in one SharedArrayBuffer.
 *
 * The rings carry only entry indices; an entry holds everything about one submitted chain: its
 * header (state, id, cancellation word, timestamps, how it ended) and a data area with the encoded
 * chain, its variables and, after it ran, its values. Ownership moves with the index:
 *
 *   free ring ──pop──► submitter writes the entry ──push──► submission ring ──pop──► worker runs it
 *   ──post──► completion queue ──reap──► reaper reads the results ──push──► free ring
 *
 * so at any moment exactly one thread writes an entry's header and data, except the cancellation
 * word (written by the owner thread at any time, read by the worker at atom boundaries) and the
 * state word (advanced with Atomics so cancel() can tell queued from running).
 */
import { WORD_BYTES } from 'atomics-sync';

/** Int32 field indices within an entry (relative to the entry's first word). */
export const E = {
  /** EntryState; advanced with Atomics.store / compareExchange. */
  STATE: 0,
  /** The request id (u32 stored as i32). */
  ID: 1,
  /** Equals ID when cancellation was requested. nanosleep parks on this word. */
  CANCEL: 2,
  /** Completion queue the result is posted to. */
  CQ: 3,
  /** Atom to start at (an inline prefix may have run already). */
  PC: 4,
  /** Steps taken so far. */
  STEPS: 5,
  STEP_BUDGET: 6,
  /** How the chain ended (Status). */
  STATUS: 7,
  /** Index of the final atom. */
  ATOM: 8,
  /** Worker slot that ran it, or -1 (ran inline on the caller). */
  WORKER: 9,
  /** Arena offset of values that did not fit in the data area, or 0. */
  VALUES_HEAP: 10,
  /** Bytes of encoded values. */
  VALUES_LEN: 11,
  /** Link in a completion queue's overflow backlog. */
  OVF_NEXT: 12,
  /** RequestFlag bits. */
  FLAGS: 13,
  /** The request's kind (RequestKind). */
  KIND: 14,
  /** The submitting client's completion queue (where its submission settles). */
  OWNER: 15,
  /** Policy id (policy.ts), 0 for none. In the header's last 16 bytes, after the Float64 fields. */
  POLICY: 28,
} as const;

/** Float64 field indices relative to the entry's first Float64 word. */
export const F = {
  RESULT: 8,
  /** Absolute deadline (sharedNow() ms) or 0. */
  DEADLINE: 9,
  T_SUBMIT: 10,
  T_START: 11,
  T_DONE: 12,
  /** Numeric user data carried in shared memory (for completions reaped on another thread). */
  UDATA: 13,
  /**
   * Threadlets: when the worker finished replaying the journal of one that moved (sharedNow() ms),
   * or 0. Written by the worker (worker-run.ts) before the completion is posted (the post's
   * release publishes it to the reaper). Bytes 120..127 of the header; E.POLICY is at 112..115.
   */
  T_REPLAYED: 15,
} as const;

/** Bytes before the data area. */
export const ENTRY_HEADER_BYTES = 128;

export const EntryState = {
  FREE: 0,
  /** In the submission ring, not started. */
  QUEUED: 1,
  RUNNING: 2,
  DONE: 3,
  /** Cancelled while queued: the worker that pops it ends it before its first atom. */
  CANCELLED: 4,
  /**
   * Ended by the runtime while its worker was stuck in a call past the chain's deadline (-ETIME)
   * or a cancel (-ECANCELED); the worker was terminated but may still hold the entry, so the entry
   * is freed only once both the submitter reaped it (STUCK_REAPED) and the worker's thread exited
   * (STUCK_GONE_*): whichever of the two comes second frees it. Only the runtime's owner thread
   * moves 5/6 to 8/9; only the submitter moves 5/6 to 7.
   */
  STUCK_TIMEDOUT: 5,
  STUCK_CANCELLED: 6,
  /** A stuck entry the submitter reaped; the runtime frees it when the worker's thread exits. */
  STUCK_REAPED: 7,
  /** A stuck entry whose worker exited (from STUCK_TIMEDOUT, STUCK_CANCELLED); the submitter frees it. */
  STUCK_GONE_TIMEDOUT: 8,
  STUCK_GONE_CANCELLED: 9,
} as const;

/** Whether an entry in `state` was ended by the runtime while its worker was stuck. */
export function isStuckState(state: number): boolean {
  return state >= EntryState.STUCK_TIMEDOUT && state <= EntryState.STUCK_GONE_CANCELLED;
}

/** How a stuck entry (STUCK_* other than STUCK_REAPED) ended: Status.TIMEDOUT or Status.CANCELLED. */
export function stuckStatus(state: number): number {
  return state === EntryState.STUCK_TIMEDOUT || state === EntryState.STUCK_GONE_TIMEDOUT ? Status.TIMEDOUT : Status.CANCELLED;
}

export const RequestKind = {
  CHAIN: 0,
  /** Reserved for threadlets. */
  THREADLET: 1,
} as const;

export const RequestFlag = {
  /** The chain ended at an atom with SYSLET_NO_COMPLETE: post no kqueue event. */
  NO_COMPLETE: 0x1,
  /** Declared buffers are copied out into the completion before they are freed. */
  HAS_BUFFERS: 0x2,
  /** F.UDATA holds the submitter's udata (a number): events reaped on another thread carry it. */
  UDATA_NUMBER: 0x4,
  /**
   * Under a policy: descriptors the chain leaves open stay open when it ends, handed to the
   * submitter (SubmitOptions.grant.keepFds) instead of closed.
   */
  KEEP_FDS: 0x8,
} as const;

/** How a chain ended. */
export const Status = {
  DONE: 1,
  STOPPED: 2,
  CANCELLED: 3,
  TIMEDOUT: 4,
  EXHAUSTED: 5,
  FAILED: 6,
} as const;

export type StatusName = 'done' | 'stopped' | 'cancelled' | 'timedout' | 'exhausted' | 'failed';

export const STATUS_NAMES: readonly (StatusName | undefined)[] = [
  undefined,
  'done',
  'stopped',
  'cancelled',
  'timedout',
  'exhausted',
  'failed',
];

/**
 * The data area, as written by encode.ts. Word offsets are relative to the data area's first word,
 * byte offsets to its first byte.
 */
export const D = {
  NATOMS: 0,
  NVARS: 1,
  /** Float64 index (relative to the data area) of the literal pool. */
  LITS: 2,
  /** Float64 index of the variables. */
  VARS: 3,
  /** Word offset of the per-variable "assigned" flags. */
  ASSIGNED: 4,
  /** Byte offset of the string bytes. */
  STRS: 5,
  /** Byte offset where values may be written (8-aligned), up to the end of the data area. */
  VALUES: 6,
  /** Number of declared buffers; their [offset, length] pairs follow at BUFS. */
  NBUFS: 7,
  BUFS: 8,
  /**
   * Word offset of the descriptors the submission grants (a count, then the descriptors; placed
   * where the values area began, which moves past them), or 0 for none.
   */
  GRANTS: 9,
  /** Word offset of the atom offset table (one word per atom). */
  ATOM_TABLE: 16,
} as const;

/** Words per atom before its arguments: op, flags, next, into, argc. */
export const ATOM_HEADER_WORDS = 5;
export const AtomWord = { OP: 0, FLAGS: 1, NEXT: 2, INTO: 3, ARGC: 4 } as const;
/** Words per argument: kind, a, b. */
export const ARG_WORDS = 3;

export const ArgKind = {
  /** An optional argument left out. */
  NONE: 0,
  /** a = the value. */
  INT: 1,
  /** a = Float64 index in the literal pool. */
  NUM: 2,
  /** a = byte offset in the string bytes, b = byte length. */
  STR: 3,
  /** a = variable index; the value is read when the atom runs. */
  VAR: 4,
  /** a = variable index; the variable itself (umem_add). */
  VARREF: 5,
  /** a = arena byte offset, b = length in bytes. */
  BUF: 6,
} as const;

/** Value record header in the values area: slot (var index, or -1 for the final atom), kind, bytes. */
export const VALUE_HEADER_BYTES = 16;
export const FINAL_VALUE_SLOT = -1;

/** Table geometry shared by every thread. */
export class TableLayout {
  readonly entryBytes: number;
  readonly entryWords: number;
  readonly dataBytes: number;

  constructor(
    readonly capacity: number,
    dataBytes: number,
  ) {
    this.dataBytes = dataBytes;
    this.entryBytes = ENTRY_HEADER_BYTES + dataBytes;
    this.entryWords = this.entryBytes / WORD_BYTES;
  }

  get totalBytes(): number {
    return this.capacity * this.entryBytes;
  }

  /** First Int32 word of entry `i`. */
  base(i: number): number {
    return i * this.entryWords;
  }

  /** First Float64 word of entry `i`. */
  base64(i: number): number {
    return (i * this.entryBytes) / 8;
  }

  /** First Int32 word of entry `i`'s data area. */
  data(i: number): number {
    return i * this.entryWords + ENTRY_HEADER_BYTES / WORD_BYTES;
  }

  /** First byte of entry `i`'s data area. */
  dataByte(i: number): number {
    return i * this.entryBytes + ENTRY_HEADER_BYTES;
  }
}
