/**
 * Occupancy over time, and the ring and worker figures between two snapshots of rt.stats(): what
 * `syslet profile` (a synthetic workload) and the recorder (a program's own runtime) both measure.
 *
 * A RingSampler takes the first snapshot when it is made; each sample() adds one row of Samples
 * (ring depths, free slots, parked workers, chains/s) and report() turns the first and a last
 * snapshot into RingReports and WorkerReports. The completion queues counted are those `tracked`
 * says (the producers' queues of a profile; every queue in use for a recording).
 */
import type { QueueStats, RuntimeStats } from '../runtime.js';
import { type RingCounters, sharedNow } from 'atomics-sync';
import { delta, ringReport, type RingReport, type Samples, type WorkerReport } from './result.js';

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export class RingSampler {
  readonly samples: Samples;
  /** The first snapshot, taken when the sampler was made. */
  readonly first: RuntimeStats;
  /** sharedNow() (ms) just after the first snapshot: samples' t is from here. */
  readonly t0: number;
  readonly #stats: () => RuntimeStats;
  readonly #tracked: (cq: number) => boolean;
  /** Occupancy samples per tracked completion queue. */
  readonly #cqOcc = new Map<number, number[]>();
  // The previous sample's figures, carried forward: its park counters by worker slot and its
  // chain total, so a sample does not search and re-sum the one before it.
  #prevParks: Map<number, number>;
  #prevChains: number;
  #prevT = 0;
  readonly #chains0: number;

  constructor(stats: () => RuntimeStats, tracked: (cq: number) => boolean, intervalMs: number) {
    this.#stats = stats;
    this.#tracked = tracked;
    this.samples = {
      intervalMs,
      t: [],
      submission: [],
      free: [],
      completion: [],
      backlog: [],
      parkedWorkers: [],
      workerParks: [],
      chainsPerSec: [],
    };
    this.first = stats();
    this.#chains0 = this.#prevChains = chainsOf(this.first);
    this.#prevParks = parksOf(this.first);
    this.t0 = sharedNow();
  }

  /** Chains the workers finished since the first snapshot (as of the last sample). */
  get chains(): number {
    return this.#prevChains - this.#chains0;
  }

  /** Take one sample: a row of `samples`. Returns the snapshot. */
  sample(): RuntimeStats {
    const st = this.#stats();
    const t = sharedNow() - this.t0;
    const s = this.samples;
    const queues = st.rings.queues.filter((q) => this.#tracked(q.cq));
    s.t.push(round3(t));
    s.submission.push(st.rings.submission.occupancy);
    s.free.push(st.rings.free.occupancy);
    s.completion.push(queues.reduce((a, q) => a + q.occupancy, 0));
    s.backlog.push(queues.reduce((a, q) => a + q.overflow.backlog, 0));
    for (const q of queues) {
      let occ = this.#cqOcc.get(q.cq);
      if (occ === undefined) this.#cqOcc.set(q.cq, (occ = []));
      occ.push(q.occupancy);
    }
    let parked = 0;
    let parks = 0;
    let chains = 0;
    for (const w of st.workers) {
      const dp = w.parks - (this.#prevParks.get(w.slot) ?? 0);
      if (dp > 0) parked++;
      parks += Math.max(0, dp);
      chains += w.chains;
    }
    const dt = (t - this.#prevT) / 1000;
    s.parkedWorkers.push(parked);
    s.workerParks.push(parks);
    s.chainsPerSec.push(dt > 0 ? Math.round(Math.max(0, chains - this.#prevChains) / dt) : 0);
    this.#prevParks = parksOf(st);
    this.#prevChains = chains;
    this.#prevT = t;
    return st;
  }

  /**
   * The figures from the first snapshot to `last` over `elapsedMs`: the submission and free rings,
   * the tracked completion queues (named by `name`, which may also set `producer`), the workers.
   */
  report(
    last: RuntimeStats,
    elapsedMs: number,
    name: (cq: number) => { name: string; producer?: number },
  ): { submission: RingReport; free: RingReport; completion: RingReport[]; workers: WorkerReport[] } {
    const s0 = this.first;
    const sec = elapsedMs / 1000;
    const queueReport = (q: QueueStats): RingReport => {
      const before: QueueStats | undefined = s0.rings.queues.find((x) => x.cq === q.cq);
      const n = name(q.cq);
      const zero: RingCounters = { ...q, pushes: 0, pops: 0, pushRetries: 0, popRetries: 0, fullEvents: 0, emptyEvents: 0, producerParks: 0, consumerParks: 0, producerWakes: 0, consumerWakes: 0 };
      const r = ringReport('completion', n.name, before ?? zero, q, sec, this.#cqOcc.get(q.cq) ?? []);
      r.cq = q.cq;
      if (n.producer !== undefined) r.producer = n.producer;
      r.overflow = { total: delta(before?.overflow.total ?? 0, q.overflow.total), peak: q.overflow.peak };
      return r;
    };
    const completion = last.rings.queues.filter((q) => this.#tracked(q.cq)).map(queueReport);
    completion.sort((a, b) => (a.producer ?? 0) - (b.producer ?? 0) || (a.cq ?? 0) - (b.cq ?? 0));
    const workers: WorkerReport[] = last.workers.map((w) => {
      const b = s0.workers.find((x) => x.slot === w.slot);
      return {
        slot: w.slot,
        threadId: w.threadId,
        chains: delta(b?.chains ?? 0, w.chains),
        atoms: delta(b?.atoms ?? 0, w.atoms),
        parks: delta(b?.parks ?? 0, w.parks),
        spinHits: delta(b?.spinHits ?? 0, w.spinHits),
      };
    });
    return {
      submission: ringReport('submission', 'submission', s0.rings.submission, last.rings.submission, sec, this.samples.submission),
      free: ringReport('free', 'free', s0.rings.free, last.rings.free, sec, this.samples.free),
      completion,
      workers,
    };
  }
}

function parksOf(st: RuntimeStats): Map<number, number> {
  return new Map(st.workers.map((w) => [w.slot, w.parks]));
}

function chainsOf(st: RuntimeStats): number {
  return st.workers.reduce((s, w) => s + w.chains, 0);
}
