/**
 * Errors of the threadlet machinery: a closed set. Errors thrown by a threadlet itself reach the
 * caller as thrown (rebuilt with their class name, message, stack and own properties when they
 * crossed threads), never wrapped in these.
 */
import { registerErrorClass } from './wire.js';

/** The runtime could not run a threadlet: module or name not found, a value that cannot travel. */
export class ThreadletError extends Error {
  override name = 'ThreadletError';
  /** The threadlet's name. */
  readonly threadlet: string;
  constructor(threadlet: string, message: string, options?: { cause?: unknown }) {
    super(`threadlet '${threadlet}': ${message}`, options);
    this.threadlet = threadlet;
  }
}

/**
 * The re-run on a worker did not make the calls the inline run journaled (a different call, or
 * different arguments), or stopped short of them. Nothing was executed twice: the diverging call
 * and every intercepted call after it were refused.
 */
export class ThreadletDivergenceError extends ThreadletError {
  override name = 'ThreadletDivergenceError';
  /** 1-based index of the intercepted call that diverged (journal length + 1 when the re-run stopped short). */
  readonly call: number;
  /** What the inline run journaled there ('fs.writeFileSync("/tmp/a", <Buffer 5 bytes: "hello">)'), or undefined. */
  readonly expected: string | undefined;
  /** What the re-run did instead, or undefined when it returned or threw. */
  readonly actual: string | undefined;
  constructor(threadlet: string, call: number, expected: string | undefined, actual: string | undefined, hint = '') {
    const inline = expected === undefined ? 'made no call there' : `made ${expected}`;
    const rerun = actual === undefined ? 'made none (it returned or threw)' : `made ${actual}`;
    super(
      threadlet,
      `diverged at intercepted call #${call}: the inline run ${inline}, the re-run on the worker ${rerun}.` +
        ' A threadlet must be a function of its arguments and of what its intercepted calls return' +
        (hint === '' ? '' : `; ${hint}`),
    );
    this.call = call;
    this.expected = expected;
    this.actual = actual;
  }
}

/** Cancelled (AbortSignal or rt.cancel(id)) before it started, or at an intercepted call on the worker. */
export class ThreadletCancelledError extends ThreadletError {
  override name = 'ThreadletCancelledError';
  readonly code = 'ECANCELED';
}

// Rebuilt as themselves when they cross threads (a worker's divergence reaches the caller as one).
registerErrorClass(ThreadletError);
registerErrorClass(ThreadletDivergenceError);
registerErrorClass(ThreadletCancelledError);
