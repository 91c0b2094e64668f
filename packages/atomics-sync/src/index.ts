/**
 * atomics-sync: synchronization structures laid out in a SharedArrayBuffer, for Node.js worker
 * threads (and the main thread): a bounded MPMC ring, an eventcount and a waiter set to park on,
 * a futex-style mutex, a buddy-allocated shared arena, and single-writer latency histograms.
 *
 * Everything lives in shared words addressed by named indices (RingField, ArenaField, the
 * EventCount/WaiterSet field maps), so another thread attaches to the same structure with the
 * SharedArrayBuffer alone. The README states the memory-ordering contract.
 */
export { WORD_BYTES, CACHE_LINE_WORDS, alignUp, isPowerOfTwo, sharedNow } from './layout.js';
export { Ring, RingField, EMPTY, type RingCounters } from './mpmc.js';
export {
  EventCount,
  WaiterSet,
  Keepalive,
  spinUntil,
  type EventCountFields,
  type WaiterSetFields,
  type WaitResult,
} from './wait.js';
export { SharedMutex } from './lock.js';
export { Arena, ArenaField, MIN_ORDER, type ArenaStats } from './arena.js';
export {
  HistogramWriter,
  HistogramSnapshot,
  HISTOGRAM_BUCKETS,
  HISTOGRAM_WORDS,
  SUB_BUCKET_BITS,
  bucketOf,
  bucketLow,
  type LatencySummary,
} from './stats.js';
