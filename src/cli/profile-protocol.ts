/**
 * What `syslet profile` (profile.ts, on the main thread) and its producer threads
 * (profile-worker.ts, loaded by path) share: the workerData they start with, the messages they
 * exchange, and the indices of the control words both sides touch.
 */
import type { OpKind, RuntimeHandle } from '../index.js';

/** Control words (Int32Array over `ProducerData.control`), written by the main thread. */
export const Ctl = {
  /** 0 until the run starts; producers wait on it. */
  GO: 0,
  /** Set when the duration has passed: producers stop submitting and drain what is in flight. */
  STOP: 1,
  WORDS: 2,
} as const;

// The span and burst records, and the operation kinds, are the result's (exported by the package).
export { Burst, Span, type OpKind } from '../index.js';

export interface ProducerData {
  handle: RuntimeHandle;
  /** 0-based producer number. */
  index: number;
  control: SharedArrayBuffer;
  /** Chains submitted back to back per burst. */
  batch: number;
  /** Atoms per chain. */
  atoms: number;
  /** Operation weights. */
  mix: Record<OpKind, number>;
  /** Files of the profiler's tree (stat targets) and descriptors opened on them (pread targets). */
  paths: string[];
  fds: number[];
  /** Chains whose timing is kept for the trace (0: none). */
  traceSpans: number;
}

/** Producer → main: attached and waiting for GO. */
export interface ProducerReady {
  type: 'ready';
  /** The producer's completion queue. */
  cq: number;
}

/** Producer → main: stopped and drained; it waits for 'close' before leaving the runtime. */
export interface ProducerDone {
  type: 'done';
  submitted: number;
  completed: number;
  /** Completions with a status other than done, or a negative result. */
  failed: number;
  bursts: number;
  /** Span.FIELDS numbers per recorded chain, in submission order. */
  spans: Float64Array;
  /** Burst.FIELDS numbers per recorded burst. */
  burstSpans: Float64Array;
}

/** Producer → main: something went wrong. */
export interface ProducerError {
  type: 'error';
  message: string;
}

export type ProducerMessage = ProducerReady | ProducerDone | ProducerError;

/** Main → producer: the final statistics are taken; leave the runtime and exit. */
export interface ProducerClose {
  type: 'close';
}
