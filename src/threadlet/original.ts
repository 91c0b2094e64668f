/**
 * The interception's per-thread state, and the way back to the functions it wraps.
 *
 * The state lives on globalThis under a registered symbol, not in this module, so that two copies of
 * syslet loaded in one thread (a duplicated dependency) share one set of wrappers and one current
 * threadlet instead of wrapping each other.
 */

/** A wrapper's own property holding the function it wraps. */
export const ORIGINAL: unique symbol = Symbol.for('syslet.threadlet.original') as never;

/** The intercepted calls of the threadlet running on this thread go to `intercept`. */
export interface InterceptContext {
  intercept(spec: CallSpec, orig: AnyFunction, self: unknown, args: IArguments): unknown;
}

export type AnyFunction = (this: any, ...args: any[]) => any;

/** One intercepted function: its name, and how a threadlet treats a call of it. */
export interface CallSpec {
  /** 'fs.readFileSync', 'Atomics.wait', ...: names it in journals and messages. */
  readonly key: string;
  /**
   * Why this call must run on a worker before it starts ('sleeps', 'large read', ...), or '' when
   * it may run inline (then it is timed against the budget and journaled). `budgetLeftUs` is what
   * the inline run has left.
   */
  readonly blocks: (args: unknown[], budgetLeftUs: number, largeIoBytes: number) => string;
  /** Argument positions that are output buffers: their contents are not compared on replay. */
  readonly outArgs?: readonly number[];
  /** Byte ranges the call wrote into its arguments (read back after it ran, replayed into the re-run's). */
  readonly outputs?: (args: unknown[], result: unknown) => OutputRange[];
  /**
   * The argument position the call returns (randomFillSync returns its buffer): not journaled as a
   * result, since its bytes are in `outputs`; on replay the re-run gets its own argument back.
   */
  readonly returnsArg?: number;
}

/** Bytes a call wrote into argument `arg` (element `item` of it when the argument is an array of buffers). */
export interface OutputRange {
  arg: number;
  item: number;
  offset: number;
  bytes: Uint8Array;
}

export interface InterceptState {
  /** The threadlet running on this thread, or null: the wrappers' one test on the fast path. */
  ctx: InterceptContext | null;
  installed: boolean;
}

const STATE_KEY = Symbol.for('syslet.threadlet.state');

export const state: InterceptState = ((globalThis as Record<symbol, unknown>)[STATE_KEY] ??= {
  ctx: null,
  installed: false,
}) as InterceptState;

/**
 * The bytes of a buffer argument (a view of any kind, or an ArrayBuffer), or undefined: how a call's
 * output is read after it ran inline and written into the re-run's argument on replay.
 */
export function bytesOf(x: unknown): Uint8Array | undefined {
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  if (x instanceof ArrayBuffer || x instanceof SharedArrayBuffer) return new Uint8Array(x);
  return undefined;
}

/** The function a wrapper wraps (itself when it is not a wrapper). */
export function original<F extends AnyFunction>(f: F): F {
  return ((f as unknown as Record<symbol, F | undefined>)[ORIGINAL] ?? f) as F;
}
