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
 * - Nondeterminism that is not an intercepted call (Date.now(), Math.random(), process.hrtime(),
 *   the thread id) is not journaled: if it feeds the arguments of a journaled call, the re-run
 *   diverges and the threadlet fails with a ThreadletDivergenceError naming the call and the likely
 *   cause (nothing runs twice; descriptors the inline run left open are closed). Draw it after the
 *   first blocking call, or pass it in as an argument. crypto.randomBytes(), randomFillSync(),
 *   randomInt() and randomUUID() are journaled. Read-only calls one run made and the other did not
 *   (a cache warm on one thread) are no divergence (journal.ts, pureRead).
 * - The worker gets the arguments as given (snapshotted at the call, before the inline run).
 * - Arguments and results cross threads as structured clone carries them (cycles and shared
 *   references kept), plus fs.Stats, Dirent, URL, Map, Set, Buffer and errors with their class
 *   name, message, stack and own properties that can cross. A run that finished inline hands back
 *   the same (the result is cloned there too), and what cannot cross (functions, symbols,
 *   SharedArrayBuffers) fails the same way wherever it ran.
 * - Calls into native addons are not journaled: the inline run moves before the first one, so it
 *   runs once, on the worker (native.ts).
 * - Workers share the process environment (SHARE_ENV); process.cwd() answers the caller's directory.
 * - Workers start with the caller's execArgv (its --import and --loader; worker-run.ts runs them
 *   on Node 20, whose workers do not), and module.register() calls made after syslet was imported
 *   are replayed on them (loaders.ts).
 * - File descriptors are process-wide: one opened inline is still open on the worker.
 * - The module that defines it is imported on the workers: keep its top level free of side
 *   effects beyond definitions. A Runtime started while a worker imports it is refused, with an
 *   error that says how to fix the program (worker-run.ts).
 *
 * Limits:
 * - Intercepted: the fs, child_process and zlib sync calls, crypto's slow and random sync calls,
 *   Atomics.wait (Node's sleep), installed by the first threadlet() call (importing syslet changes
 *   nothing). Not intercepted: a function captured before that (`const { readFileSync } =
 *   require('fs')` in a module loaded earlier; preload `--import syslet/register` to install
 *   first); a builtin export that is read-only and not configurable (listed by
 *   interceptionStatus()); Node's own I/O (require, import); an addon's getters and static methods;
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
