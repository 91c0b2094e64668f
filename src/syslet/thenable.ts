/**
 * An awaitable that settles once and makes its promise only when somebody asks for one: the
 * shared base of Submission (client.ts) and ThreadletHandle (threadlet/handle.ts).
 *
 * Most submissions are read synchronously or through a kqueue and never awaited, so a Promise per
 * submission would be allocation for nothing; and a rejected handle that nobody awaits must not
 * raise an unhandled rejection. The promise is therefore created on first use of `promise` or
 * `then`: already settled by then, it is Promise.resolve/Promise.reject of the outcome; otherwise a
 * pending one that the subclass settles through _resolveLazy/_rejectLazy.
 */
export abstract class LazyThenable<T> implements PromiseLike<T> {
  #promise: Promise<T> | undefined = undefined;
  #resolve: ((v: T) => void) | undefined = undefined;
  #reject: ((e: unknown) => void) | undefined = undefined;

  /**
   * The outcome as a settled promise when it is known already (read once, when the promise is
   * first asked for), else undefined.
   */
  protected abstract _settledPromise(): Promise<T> | undefined;

  /** A promise of the value, created on first use. */
  get promise(): Promise<T> {
    if (this.#promise === undefined) {
      this.#promise =
        this._settledPromise() ??
        new Promise<T>((resolve, reject) => {
          this.#resolve = resolve;
          this.#reject = reject;
        });
    }
    return this.#promise;
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((v: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((e: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.promise.then(onfulfilled, onrejected);
  }

  /** Settle the promise if one was made (call once, after recording the outcome). */
  protected _resolveLazy(v: T): void {
    if (this.#resolve !== undefined) this.#resolve(v);
  }

  /** Reject the promise if one was made (call once, after recording the outcome). */
  protected _rejectLazy(e: unknown): void {
    if (this.#reject !== undefined) this.#reject(e);
  }
}
