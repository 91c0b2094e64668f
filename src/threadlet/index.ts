/**
 * Threadlets: ordinary synchronous functions that run inline and move to a worker when they would
 * block. This is the subsystem's one door; everything else in src/threadlet/ is internal.
 *
 * Why a boundary: threadlets patch Node's builtin modules (interception) and re-run user code on
 * workers (journal and replay). Everything that does so lives behind this file, so the rest of the
 * runtime sees one more request kind (RequestKind.THREADLET) and nothing else.
 *
 * The contract, for users:
 * - A threadlet is a function of its arguments and of what its intercepted calls return. It may
 *   run twice: inline up to a blocking call, then again from the start on a worker, where the
 *   journal answers the calls already made (they are not executed again).
 * - Its effects go through intercepted calls. Effects on the calling thread's memory (module
 *   state, a global, an object it was given) made before it moved are not replayed on the worker,
 *   and what it changes on the worker is not seen by the caller: it returns a value.
 * - Nondeterminism that is not an intercepted call (Date.now(), Math.random(), process.hrtime())
 *   is not journaled: if it feeds the arguments of a journaled call, the re-run diverges and the
 *   threadlet fails with a ThreadletDivergenceError naming the call (nothing runs twice). Draw it
 *   after the first blocking call, or pass it in as an argument. crypto.randomBytes(),
 *   randomFillSync(), randomInt() and randomUUID() are journaled.
 * - Arguments and results cross threads (structured clone, plus fs.Stats, Dirent, URL, Map, Set,
 *   Buffer and errors with their class name, message, stack and own properties); functions,
 *   symbols and SharedArrayBuffers cannot.
 * - File descriptors are process-wide: one opened inline is still open on the worker.
 * - The module that defines it is imported on the workers: keep its top level free of side
 *   effects beyond definitions (not the entry script of a program).
 *
 * Limits:
 * - Intercepted: the fs, child_process and zlib sync calls, crypto's slow and random sync calls,
 *   Atomics.wait (Node's sleep), installed by the first threadlet() call (importing syslet changes
 *   nothing). Not intercepted: a function captured before that (`const { readFileSync } =
 *   require('fs')` in a module loaded earlier; preload `--import syslet/register` to install
 *   first); a builtin export that is read-only and not configurable (listed by
 *   interceptionStatus()); Node's own I/O (require, import); native addons;
 *   pure CPU work (it cannot be preempted: the predictor learns to start slow threadlets on a
 *   worker).
 * - A running threadlet is cancelled at its next intercepted call on the worker; inline code
 *   cannot be interrupted. A worker that dies fails its threadlet (EOWNERDEAD); it is not re-run.
 */
export { threadlet, Threadlet, type ThreadletOptions, type ThreadletCallOptions, type ThreadletStats } from './define.js';
export { ThreadletHandle, type Placement, type ThreadletState } from './handle.js';
export { ThreadletError, ThreadletDivergenceError, ThreadletCancelledError } from './errors.js';
export { installInterception, interceptionInstalled, interceptionStatus, type InterceptionStatus } from './intercept.js';
export { registerErrorClass, type ErrorClass } from './wire.js';
export { THREADLET_THREW, THREADLET_UNRUNNABLE } from './protocol.js';
export type { Prediction, PredictorStats } from './predictor.js';
