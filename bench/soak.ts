/**
 * Soak: the runtime under load for a while, with workers dying (injected faults), random
 * cancellations and deadlines, tiny rings, promises and a kqueue; every request must complete
 * exactly once. Prints requests, faults injected, lost (must be 0), peak RSS and RSS growth after
 * warm-up.
 *
 * Usage: npm run soak [-- --seconds N] [-- --json]
 * Environment: SOAK_SECONDS (default 60).
 */
import os from 'node:os';
import { EVFILT_AIO, Runtime, chain, type Chain, type Submission } from 'syslet';
import { rng } from 'syslet/bench';

const args = process.argv.slice(2);
const JSON_OUT = args.includes('--json');
const SECONDS = Number(args.includes('--seconds') ? args[args.indexOf('--seconds') + 1] : (process.env.SOAK_SECONDS ?? 60));
if (!(SECONDS > 0)) throw new TypeError(`--seconds: expected a positive number, got ${String(SECONDS)}`);

async function main(): Promise<void> {
  const rand = rng(42);
  const rt = await Runtime.create({
    workers: os.availableParallelism(),
    ringSize: 64,
    completionRingSize: 8,
    faults: { pumpError: 0.0002, workerExit: 0.0002, seed: 7 },
  });
  const kq = rt.kqueue();
  const chains: Chain[] = [
    chain().nop(1).build(),
    chain().getpid({ into: 'p' }).nop(2).build(),
    chain().var('i', 5).umem_add('i', -1, { flags: ['STOP_ON_ZERO'], next: 0 }).build(),
    chain().nanosleep(50_000).nop(3).build(),
    chain().stat('/').build(),
  ];
  let submitted = 0;
  let completed = 0;
  let viaKq = 0;
  let events = 0;
  let cancels = 0;
  let duplicates = 0;
  const seen = new Set<number>();
  const pendingKq = new Set<number>();
  let peakRss = 0;
  let warmRss = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  const warmAt = start + Math.min(10_000, SECONDS * 100);
  const lines: string[] = [];
  const count = (id: number): void => {
    if (seen.has(id)) duplicates++;
    seen.add(id);
    completed++;
  };
  while (performance.now() < end) {
    const window: Submission[] = [];
    for (let k = 0; k < 2000; k++) {
      const c = chains[Math.floor(rand() * chains.length)]!;
      const useKq = rand() < 0.3;
      const s = rt.submit(c, { ...(useKq ? { kq } : {}), ...(rand() < 0.05 ? { timeoutMs: rand() * 2 } : {}) });
      submitted++;
      if (useKq) {
        viaKq++;
        pendingKq.add(s.id);
      }
      window.push(s);
      if (rand() < 0.05) {
        rt.cancel(window[Math.floor(rand() * window.length)]!.id);
        cancels++;
      }
    }
    // Reap the kqueue's events while the promises settle; both must account for every request.
    const kqDone = (async () => {
      while (pendingKq.size > 0) {
        for (const ev of await kq.kevent(null, 1024, 1000)) {
          if (ev.filter === EVFILT_AIO && !pendingKq.delete(ev.ident as number)) duplicates++;
          events++;
        }
      }
    })();
    await Promise.all(window.map((s) => s.promise.then((c) => count(c.id))));
    await kqDone;
    seen.clear(); // ids are unique per run; keep memory flat
    const rss = process.memoryUsage().rss;
    peakRss = Math.max(peakRss, rss);
    if (warmRss === 0 && performance.now() >= warmAt) warmRss = rss;
  }
  const endRss = process.memoryUsage().rss;
  const st = rt.stats();
  kq.close();
  await rt.close();
  const result = {
    machine: `${os.cpus()[0]?.model ?? 'unknown'} x${os.availableParallelism()}, node ${process.version}`,
    seconds: Math.round((performance.now() - start) / 100) / 10,
    requests: submitted,
    completed,
    lost: submitted - completed,
    duplicates,
    viaKqueue: viaKq,
    kqueueEvents: events,
    cancelsRequested: cancels,
    faultsInjected: st.workerDeaths,
    ownerDeadCompletions: st.ownerDeadCompletions,
    peakRssMiB: Math.round(peakRss / 2 ** 20),
    rssAfterWarmupMiB: Math.round(warmRss / 2 ** 20),
    rssEndMiB: Math.round(endRss / 2 ** 20),
    rssGrowthAfterWarmup: warmRss === 0 ? null : Math.round(((endRss - warmRss) / warmRss) * 1000) / 10,
  };
  if (JSON_OUT) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    for (const [k, v] of Object.entries(result)) lines.push(`${k.padEnd(22)} ${String(v)}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  if (result.lost !== 0 || result.duplicates !== 0) process.exitCode = 1;
}

await main();
