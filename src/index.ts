/**
 * syslet: chains of syscall atoms on worker threads over shared-memory rings, threadlets, and a
 * kqueue-compatible completion API. This file is the one public entry: everything exported is
 * listed here.
 */
export {
  Runtime,
  Submission,
  PreparedChain,
  SysletClosedError,
  SysletStartError,
  type RuntimeOptions,
  type SubmitOptions,
  type RuntimeStats,
  type WorkerStats,
  type QueueStats,
  type RuntimeHandle,
} from './runtime.js';
export { Recording, type RecordOptions } from './record/recorder.js';
export type { ProfileResult, PointResult, RecordedProgram, RecordedRuntime } from './record/result.js';
export type { PoolStats, PoolEvent } from './syslet/pool.js';
export { Kqueue, KqueueError, type WaitOptions, type KqueueHandle } from './completion/kqueue.js';
export {
  threadlet,
  Threadlet,
  ThreadletHandle,
  ThreadletError,
  ThreadletDivergenceError,
  ThreadletCancelledError,
  installInterception,
  interceptionInstalled,
  interceptionStatus,
  type InterceptionStatus,
  registerErrorClass,
  THREADLET_THREW,
  THREADLET_UNRUNNABLE,
  type ThreadletOptions,
  type ThreadletCallOptions,
  type ThreadletStats,
  type Placement,
  type ThreadletState,
  type ErrorClass,
  type Prediction,
  type PredictorStats,
} from './threadlet/index.js';
export * from './completion/constants.js';
export {
  chain,
  ChainBuilder,
  v,
  buf,
  flagsOf,
  type Chain,
  type Atom,
  type Arg,
  type VarRef,
  type BufRef,
  type BufferDecl,
  type AtomOptions,
} from './syslet/chain.js';
export type { Completion, StatusName, Timing } from './syslet/entry.js';
/** The clock of Completion.timing: milliseconds, the same on every thread of the process. */
export { sharedNow } from 'atomics-sync';
export { ChainError } from './syslet/validate.js';
export type { Grant, Policy } from './syslet/policy.js';
export { SysletStat, type Value } from './syslet/values.js';
export { OPS, type OpName, type OpSpec, type ParamSpec, type ParamKind } from './syslet/ops.js';
export {
  SYSLET_ASYNC,
  SYSLET_SYNC,
  SYSLET_NO_COMPLETE,
  SYSLET_STOP_ON_NONZERO,
  SYSLET_STOP_ON_ZERO,
  SYSLET_STOP_ON_NEGATIVE,
  SYSLET_STOP_ON_NON_POSITIVE,
  SYSLET_SKIP_TO_NEXT_ON_STOP,
  SysletFlag,
  type SysletFlagName,
} from './syslet/flags.js';
export { errno, errnoName, type ErrnoName } from './syslet/errno.js';
export type { RingCounters, LatencySummary, ArenaStats } from 'atomics-sync';
export type { OverflowStats } from './syslet/completion-queue.js';
