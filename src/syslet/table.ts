/**
 * The request table: one fixed-size entry per request, in one SharedArrayBuffer.
 *
 * The rings carry only entry indices; an entry holds everything about one submitted request: its
 * header (state, id, cancellation word, timestamps, how it ended: entry.ts owns it) and a data area
 * with the encoded chain, its variables and, after it ran, its values (laid out here), or a codec's
 * payload (threadlets: threadlet/protocol.ts). Ownership moves with the index:
 *
 *   free ring ──pop──► submitter writes the entry ──push──► submission ring ──pop──► worker runs it
 *   ──post──► completion queue ──reap──► reaper reads the results ──push──► free ring
 *
 * so at any moment exactly one thread writes an entry's header and data, except the cancellation
 * word (written by the owner thread at any time, read by the worker at atom boundaries) and the
 * state word (advanced with Atomics so cancel() can tell queued from running).
 */
import { WORD_BYTES } from 'atomics-sync';
import { ENTRY_HEADER_BYTES } from './entry.js';

/**
 * The data area, as written by encode.ts. Word offsets are relative to the data area's first word,
 * byte offsets to its first byte.
 */
export const DataWord = {
  NATOMS: 0,
  /* 1: unused. */
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

/**
 * An atom's words before its arguments (relative to its first word): the opcode, its SYSLET_*
 * flags, the next atom's index (-1: the chain ends) and the variable its result goes into (-1:
 * none). Its arguments follow, as many as its operation's parameters (ops.ts).
 */
export const AtomWord = { OP: 0, FLAGS: 1, NEXT: 2, INTO: 3 } as const;
export const ATOM_HEADER_WORDS = 4;
/** An argument's words (relative to its first word): its ArgKind, then `a` and `b` (ArgKind says what they hold). */
export const ArgWord = { KIND: 0, A: 1, B: 2 } as const;
export const ARG_WORDS = 3;
/** Bytes of one variable: its Float64 value and its Int32 "assigned" flag. */
export const VARIABLE_BYTES = 8 + WORD_BYTES;

/**
 * Encoded bytes of one atom with `nargs` arguments: its word in the atom offset table, its header
 * and its arguments (its strings, literals and variable come on top).
 */
export function atomBytes(nargs: number): number {
  return WORD_BYTES * (1 + ATOM_HEADER_WORDS + ARG_WORDS * nargs);
}

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

/** Value record header in the values area: variable (its index, or FINAL_VALUE_VAR), kind, bytes. */
export const VALUE_HEADER_BYTES = 16;
/** A value record's variable word for the final atom's value. */
export const FINAL_VALUE_VAR = -1;

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
