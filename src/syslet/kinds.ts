/**
 * Request kinds other than chains (threadlets), on the worker side. A module listed in
 * WORKER_MODULES registers a handler for its kind when the pump imports it at start-up; the pump
 * calls the handler for each entry of that kind, awaits it if it returns a promise, and posts the
 * entry to its completion queue afterwards. The handler writes the entry's completion fields
 * (E.STATUS, E.ATOM, F.RESULT, ...) and whatever its codec reads back on the submitting thread.
 */
import type { SharedState } from './shared.js';

export interface RequestContext {
  readonly s: SharedState;
  /** The worker slot running it. */
  readonly slot: number;
}

export type RequestHandler = (ctx: RequestContext, idx: number) => void | Promise<void>;

const handlers = new Map<number, RequestHandler>();

export function registerRequestHandler(kind: number, handler: RequestHandler): void {
  handlers.set(kind, handler);
}

export function requestHandler(kind: number): RequestHandler | undefined {
  return handlers.get(kind);
}

/**
 * Modules every worker imports at start-up (file URLs), each registering its handlers. Listed
 * here, not passed around, so every worker of every runtime has the same kinds.
 */
export const WORKER_MODULES: readonly string[] = [new URL('../threadlet/worker.js', import.meta.url).href];
