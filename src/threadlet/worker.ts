/**
 * Worker entry of threadlets: every pump imports this file at start-up (WORKER_MODULES in
 * syslet/kinds.ts); caller-side code never does.
 *
 * It only registers the THREADLET handler. The machinery (worker-run.ts, which installs the
 * interception of blocking calls) loads on the worker's first threadlet, so a pump starts as fast
 * as before and a worker that only ever runs chains never wraps a builtin. The first threadlet on
 * each worker waits for that import; the ones after it run synchronously.
 */
import { registerRequestHandler, type RequestContext, type RequestHandler } from '../syslet/kinds.js';
import { RequestKind } from '../syslet/entry.js';

let run: RequestHandler | undefined;
let loading: Promise<RequestHandler> | undefined;

function handle(ctx: RequestContext, idx: number): void | Promise<void> {
  if (run !== undefined) return run(ctx, idx);
  loading ??= import('./worker-run.js').then((m) => (run = m.handle));
  return loading.then((h) => h(ctx, idx));
}

registerRequestHandler(RequestKind.THREADLET, handle);
