import type { Runtime } from '../../dist/index.js';

/** Requests the workers have run so far (chains and threadlets alike). */
export function workerRuns(rt: Runtime): number {
  return rt.stats().workers.reduce((n, w) => n + w.chains, 0);
}
