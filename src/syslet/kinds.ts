/**
 * Request kinds other than chains (threadlets), on the worker side. A module listed in
 * WORKER_MODULES registers a handler for its kind when the pump imports it at start-up; the pump
 * calls the handler for each entry of that kind, awaits it if it returns a promise, and posts the
 * entry to its completion queue afterwards. The handler writes how the request ended (entry.ts,
 * entryStatusSet) and whatever its codec reads back on the submitting thread.
 */
import type { SharedState } from './shared.js';

/**
 * Brackets a call that may block (a system call; not pure JS), so the pool can tell a worker that
 * waits from one that computes (pool.ts): enter() stamps the worker's WorkerWord.BLOCKED_SINCE, leave()
 * clears it. Calls do not nest.
 */
export interface BlockMarker {
  enter(): void;
  leave(): void;
}

export interface RequestContext {
  readonly s: SharedState;
  /** Wrap every call that may block in it (threadlets: each intercepted call run for real). */
  readonly blocking: BlockMarker;
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
