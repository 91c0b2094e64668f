/**
 * The calling thread's side of a threadlet entry: the RequestCodec that writes the request (module
 * URL, name, arguments, journal) into a request entry and reads the worker's result back into the
 * handle, at the moment the completion is reaped (synchronously: a kevent caller that sees the
 * EVFILT_THREADLET event finds the handle settled).
 */
import { ENCODED_COMPLETE, type RequestCodec, type Submission } from '../syslet/client.js';
import {
  NO_VARS,
  RequestKind,
  STATUS_NAMES,
  Status,
  completionRead,
  entryStatus,
  entryStatusSet,
  type Completion,
} from '../syslet/entry.js';
import { errno, errnoName, resultOfCode } from '../syslet/errno.js';
import type { SharedState } from '../syslet/shared.js';
import { ThreadletCancelledError, ThreadletError } from './errors.js';
import type { ThreadletHandle } from './handle.js';
import { closeFds } from './journal.js';
import { ThreadletData, THREADLET_THREW, freeRecord, recordBytes, writeRecord } from './protocol.js';
import { unpack, unpackedGraph } from './pack.js';
import { fromWire, type ErrorClass } from './wire.js';

export class ThreadletCodec<R> implements RequestCodec {
  readonly kind = RequestKind.THREADLET;
  readonly #handle: ThreadletHandle<R>;
  /** The serialized request; undefined for a threadlet that finished inline (an event only). */
  readonly #request: Uint8Array | undefined;
  readonly #classes: ReadonlyMap<string, ErrorClass> | undefined;
  /** File descriptors the inline run left open (journal.ts, leftOpen): closed if no worker ever runs it. */
  #leftOpen: readonly number[];

  constructor(
    handle: ThreadletHandle<R>,
    request: Uint8Array | undefined,
    classes: ReadonlyMap<string, ErrorClass> | undefined,
    leftOpen: readonly number[] = [],
  ) {
    this.#handle = handle;
    this.#request = request;
    this.#classes = classes;
    this.#leftOpen = leftOpen;
  }

  encode(s: SharedState, idx: number): number {
    const db = s.layout.data(idx);
    s.i32[db + ThreadletData.REQ_AT] = 0;
    s.i32[db + ThreadletData.REQ_LEN] = 0;
    s.i32[db + ThreadletData.RES_AT] = 0;
    s.i32[db + ThreadletData.RES_LEN] = 0;
    const h = this.#handle;
    if (this.#request === undefined) {
      // Finished inline; submitted so that its kqueue gets the event. data: 0, or the error's errno.
      if (h.state === 'fulfilled') entryStatusSet(s, idx, Status.DONE, 0);
      else entryStatusSet(s, idx, Status.FAILED, resultOfCode(h.error) ?? THREADLET_THREW);
      return ENCODED_COMPLETE;
    }
    const rc = writeRecord(s, idx, 'req', this.#request);
    if (rc < 0) {
      this.#closeLeftOpen();
      const a = s.arena.stats();
      h._reject(
        Object.assign(
          new ThreadletError(
            h.threadlet,
            `no room in the arena for its request (${this.#request.byteLength} bytes; ${a.inUse} of ${a.bytes} in use; option arenaBytes)`,
          ),
          { code: 'ENOMEM' },
        ),
      );
    }
    return rc;
  }

  decode(s: SharedState, idx: number, sub: Submission): Completion {
    const c = completionRead(s, idx, sub.id, NO_VARS);
    const h = this.#handle;
    if (h.state === 'pending') this.#settle(s, idx, entryStatus(s, idx), c.result);
    return c;
  }

  release(s: SharedState, idx: number): void {
    freeRecord(s, idx, 'req');
    freeRecord(s, idx, 'res');
  }

  unstarted(c: Completion): void {
    this.#closeLeftOpen();
    const h = this.#handle;
    if (c.status === 'cancelled') h._reject(new ThreadletCancelledError(h.threadlet, 'cancelled before it started'));
    else {
      const code = errnoName(c.result);
      h._reject(Object.assign(new ThreadletError(h.threadlet, `could not be started (${code ?? c.result})`), { code }));
    }
  }

  /** Once: a number closed twice could be somebody else's fd by then. */
  #closeLeftOpen(): void {
    const fds = this.#leftOpen;
    this.#leftOpen = [];
    closeFds(fds);
  }

  #settle(s: SharedState, idx: number, status: number, result: number): void {
    const h = this.#handle;
    const name = h.threadlet;
    const bytes = recordBytes(s, idx, 'res');
    if (status === Status.CANCELLED && bytes === undefined) {
      h._reject(new ThreadletCancelledError(name, 'cancelled before it started'));
      return;
    }
    if (bytes === undefined) {
      const why =
        result === -errno.EOWNERDEAD
          ? 'the worker running it died; it is not run again'
          : `it ended with ${STATUS_NAMES[status] ?? `status ${status}`} (${errnoName(result) ?? result}) and no result`;
      h._reject(Object.assign(new ThreadletError(name, why), { code: errnoName(result) }));
      return;
    }
    let v: unknown;
    try {
      const w = unpack(bytes);
      v = fromWire(w, this.#classes, unpackedGraph());
    } catch (e) {
      h._reject(new ThreadletError(name, 'its result could not be read back', { cause: e }));
      return;
    }
    // DONE carries the value; FAILED and CANCELLED (at a call on the worker) carry the error.
    if (status === Status.DONE) h._fulfil(v as R);
    else h._reject(v);
  }
}
