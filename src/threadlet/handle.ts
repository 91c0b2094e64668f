/**
 * ThreadletHandle: what calling a threadlet returns, at once. Settled already when the threadlet
 * finished inline; otherwise when the worker's completion is reaped. Readable synchronously
 * (state, value, error, result()) and awaitable (a thenable; `promise` on demand).
 */
import { LazyThenable } from '../syslet/thenable.js';
import { ThreadletError } from './errors.js';

/** Where a threadlet ran. */
export type Placement =
  /** Started inline and finished inline: no worker, no submission (unless a kqueue asked for an event). */
  | 'inline'
  /** Started inline, moved to a worker at a blocking call (`migratedAt`), finished there. */
  | 'migrated'
  /** Started on a worker (the predictor, `start: 'worker'`, or a nested call on a worker). */
  | 'worker';

export type ThreadletState = 'pending' | 'fulfilled' | 'rejected';

/** A threadlet call: its state, and its value or error once settled. Awaitable. */
export class ThreadletHandle<R> extends LazyThenable<R> {
  /** The threadlet's name. */
  readonly threadlet: string;
  state: ThreadletState = 'pending';
  /** The value, once fulfilled. */
  value: R | undefined = undefined;
  /** What it threw, once rejected. */
  error: unknown = undefined;
  /**
   * The submission id (the EVFILT_THREADLET event's `ident`, and what rt.cancel() takes) when the
   * call went through the runtime: it moved or started on a worker, or a kqueue was given.
   * Undefined for a call that finished inline without a kqueue.
   */
  id: number | undefined = undefined;
  /** Where it ran (so far: 'migrated' and 'worker' are known before it settles). */
  placement: Placement = 'inline';
  /** The intercepted call at which it moved to a worker ('Atomics.wait'), for placement 'migrated'. */
  migratedAt: string | undefined = undefined;
  /** Why it moved there ('sleeps (Atomics.wait)', 'the inline budget is spent', ...). */
  migrationReason: string | undefined = undefined;
  /** Intercepted calls its inline run made and journaled (for 'migrated': what the worker replayed). */
  journaled = 0;

  /** @internal */
  constructor(threadlet: string) {
    super();
    this.threadlet = threadlet;
  }

  get settled(): boolean {
    return this.state !== 'pending';
  }

  /** The value; throws the error when rejected, and a ThreadletError while pending. */
  result(): R {
    if (this.state === 'fulfilled') return this.value as R;
    if (this.state === 'rejected') throw this.error;
    throw new ThreadletError(this.threadlet, 'result(): still running (await the handle, or check settled first)');
  }

  // `promise` (made on first use: a rejected handle that nobody awaits raises no unhandled
  // rejection, since the promise exists only once somebody asks for it) and `then` come from
  // LazyThenable.

  /** @internal */
  protected _settledPromise(): Promise<R> | undefined {
    if (this.state === 'fulfilled') return Promise.resolve(this.value as R);
    if (this.state === 'rejected') return Promise.reject(this.error);
    return undefined;
  }

  catch<R2 = never>(onrejected?: ((e: unknown) => R2 | PromiseLike<R2>) | null): Promise<R | R2> {
    return this.promise.catch(onrejected);
  }

  /** @internal Settle once; later calls are ignored. */
  _fulfil(v: R): void {
    if (this.state !== 'pending') return;
    this.state = 'fulfilled';
    this.value = v;
    this._resolveLazy(v);
  }

  /** @internal */
  _reject(e: unknown): void {
    if (this.state !== 'pending') return;
    this.state = 'rejected';
    this.error = e;
    this._rejectLazy(e);
  }
}
