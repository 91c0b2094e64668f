/**
 * Soak helper: a worker thread that joins a runtime (Runtime.attach) and submits chains in a storm
 * until the owner's close refuses it (ERR_SYSLET_CLOSED); then it waits for every submission and
 * reports how many it made, how many settled (by id), duplicates and completions that named
 * another request.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Runtime, chain, type Chain, type Completion } from 'syslet';

const { handle } = workerData as { handle: Parameters<typeof Runtime.attach>[0] };
const CHAINS: Chain[] = [
  chain().nop(1).build(),
  chain().nanosleep(100_000).nop(2).build(),
  chain().getpid().build(),
  chain().stat('/').build(),
];

let submitted = 0;
let duplicates = 0;
let mismatched = 0;
let refusedAttach = false;
const settled = new Set<number>();
const statuses: Record<string, number> = {};
const count = (id: number, c: Completion): void => {
  if (c.id !== id) mismatched++;
  if (settled.has(c.id)) duplicates++;
  settled.add(c.id);
  statuses[c.status] = (statuses[c.status] ?? 0) + 1;
};

let rt: Runtime | undefined;
try {
  rt = Runtime.attach(handle);
} catch (e) {
  if ((e as { code?: string }).code !== 'ERR_SYSLET_CLOSED') throw e;
  refusedAttach = true;
}
parentPort!.postMessage({ attached: rt !== undefined });
if (rt !== undefined) {
  let inflight: Promise<void>[] = [];
  let k = 0;
  outer: for (;;) {
    for (let b = 0; b < 64; b++) {
      let s;
      try {
        s = rt.submit(CHAINS[k++ % CHAINS.length]!);
      } catch (e) {
        if ((e as { code?: string }).code === 'ERR_SYSLET_CLOSED') break outer;
        throw e;
      }
      submitted++;
      const id = s.id;
      inflight.push(s.promise.then((c) => count(id, c)));
    }
    if (inflight.length > 512) {
      await Promise.all(inflight.slice(0, 256));
      inflight = inflight.slice(256);
    } else await new Promise((r) => setImmediate(r));
  }
  await Promise.all(inflight);
  await rt.close();
}
parentPort!.postMessage({ submitted, completed: settled.size, duplicates, mismatched, statuses, refusedAttach });
