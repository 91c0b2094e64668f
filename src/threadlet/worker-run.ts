/**
 * Worker side of threadlets, the part that runs them: imported by worker.ts on a worker's first
 * threadlet request, never by caller-side code.
 *
 * Importing it installs the interception, before any threadlet module is imported on this thread,
 * so every blocking call a threadlet makes here goes through a wrapper however its module captured
 * it. Then, for each THREADLET entry: read the request, import the threadlet's module (once: Node
 * caches it; the handler is synchronous once it is loaded), find the function in the registry,
 * re-run it with the journal answering the calls already made inline (journal.ts, Replayer), and
 * write the result or error record and the completion fields. The pump posts the completion.
 */
import type { RequestContext } from '../syslet/kinds.js';
import { errno } from '../syslet/errno.js';
import type { SharedState } from '../syslet/shared.js';
import { E, F, Status } from '../syslet/table.js';
import { ThreadletCancelledError, ThreadletError } from './errors.js';
import { installInterception } from './intercept.js';
import { Replayer, runUnder, settledOutcome } from './journal.js';
import { THREADLET_UNRUNNABLE, recordBytes, resultForThrow, writeRecord, type ThreadletRequest } from './protocol.js';
import { lookup, type Registered } from './registry.js';
import { pack, unpack } from './pack.js';
import { WireMode, fromWire, toWire } from './wire.js';

installInterception();

/** Write the completion: status, result, and the value or error record. */
function complete(s: SharedState, idx: number, name: string, status: number, result: number, v: unknown): void {
  let bytes: Uint8Array;
  try {
    bytes = pack(toWire(v, WireMode.EXACT, status === Status.DONE ? 'its result' : 'what it threw'));
  } catch (e) {
    const err = new ThreadletError(
      name,
      `${status === Status.DONE ? 'returned' : 'threw'} a value that cannot be sent back: ${(e as Error).message}`,
    );
    status = Status.FAILED;
    result = THREADLET_UNRUNNABLE;
    bytes = pack(toWire(err, WireMode.EXACT));
  }
  const eb = s.layout.base(idx);
  if (writeRecord(s, idx, 'res', bytes) < 0) {
    status = Status.FAILED;
    result = -errno.ENOMEM;
  }
  s.i32[eb + E.STATUS] = status;
  s.f64[s.layout.base64(idx) + F.RESULT] = result;
}

function fail(s: SharedState, idx: number, name: string, e: unknown): void {
  const status = e instanceof ThreadletCancelledError ? Status.CANCELLED : Status.FAILED;
  const result =
    e instanceof ThreadletCancelledError
      ? -errno.ECANCELED
      : e instanceof ThreadletError
        ? THREADLET_UNRUNNABLE
        : resultForThrow(e);
  complete(s, idx, name, status, result, e);
}

function cancelCheck(s: SharedState, idx: number, name: string): () => Error | undefined {
  const i32 = s.i32;
  const w = s.layout.base(idx) + E.CANCEL;
  const id = i32[s.layout.base(idx) + E.ID]!;
  // Acquire load: pairs with cancel()'s store of CANCEL = ID on the submitting thread.
  return () => (Atomics.load(i32, w) === id ? new ThreadletCancelledError(name, 'cancelled while running on a worker') : undefined);
}

function run(s: SharedState, idx: number, req: ThreadletRequest, r: Registered): void {
  const name = req.n;
  const cancelled = cancelCheck(s, idx, name);
  const early = cancelled();
  if (early !== undefined) {
    fail(s, idx, name, early);
    return;
  }
  let args: unknown[];
  try {
    args = fromWire(req.a, r.errorClasses) as unknown[];
  } catch (e) {
    fail(s, idx, name, new ThreadletError(name, 'its arguments could not be read', { cause: e }));
    return;
  }
  const replay = new Replayer({ threadlet: name, journal: req.j, pending: req.p ?? undefined, classes: r.errorClasses, cancelled });
  const ran = runUnder(replay, r.fn, args);
  s.i32[s.layout.base(idx) + E.STEPS] = replay.real;
  s.f64[s.layout.base64(idx) + F.T_REPLAYED] = replay.replayedAt;
  // A divergence or cancellation decides first, whatever the function returned or threw.
  const bad = replay.finish();
  if (bad !== undefined) {
    fail(s, idx, name, bad);
    return;
  }
  const { threw, value } = settledOutcome(name, ran);
  if (threw) fail(s, idx, name, value);
  else complete(s, idx, name, Status.DONE, 0, value);
}

/** The THREADLET request handler (see worker.ts). */
export function handle(ctx: RequestContext, idx: number): void | Promise<void> {
  const s = ctx.s;
  s.f64[s.layout.base64(idx) + F.T_REPLAYED] = 0;
  let req: ThreadletRequest;
  try {
    req = unpack(recordBytes(s, idx, 'req') ?? new Uint8Array(0)) as ThreadletRequest;
  } catch (e) {
    fail(s, idx, '?', new ThreadletError('?', 'its request could not be read', { cause: e }));
    return;
  }
  const r = lookup(req.u, req.n);
  if (r !== undefined) {
    run(s, idx, req, r);
    return;
  }
  return import(req.u).then(
    () => {
      const loaded = lookup(req.u, req.n);
      if (loaded !== undefined) run(s, idx, req, loaded);
      else {
        fail(
          s,
          idx,
          req.n,
          new ThreadletError(
            req.n,
            `${req.u} does not define it: threadlet(import.meta.url, '${req.n}', fn) must run when the module is imported (at its top level)`,
          ),
        );
      }
    },
    (e: unknown) => {
      const why = `could not import ${req.u}: ${(e as Error)?.message ?? String(e)}`;
      fail(s, idx, req.n, new ThreadletError(req.n, why, { cause: e }));
    },
  );
}

