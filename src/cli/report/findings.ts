/**
 * What a reader should conclude from a run's figures: for each figure that tells of contention or
 * waiting, its value, the level above which it is high, and what a high value means and what to
 * try. The terminal and HTML reports show the same list (high ones first).
 *
 * The levels are rules of thumb for this runtime on a multi-core machine, not limits: a figure
 * under its level is not a problem, one above it is where the time goes.
 */
import type { PointResult } from '../../index.js';
import { ratio, us } from './format.js';

export interface Finding {
  /** The figure, as the report names it. */
  figure: string;
  /** Its value, formatted. */
  value: string;
  /** The level above which it is high, formatted with its unit. */
  level: string;
  high: boolean;
  /** What a high value means, and what to try. */
  meaning: string;
}

const NS_PER_MS = 1e6;

export function findings(p: PointResult): Finding[] {
  const sq = p.rings.submission;
  const done = Math.max(1, p.chains.completed);
  // No chains: no ratio (2 parks over 0 chains is not "high").
  const parksPer1k = p.chains.completed > 0 ? (sq.consumerParks * 1000) / done : undefined;
  const overflow = p.rings.completion.reduce((a, q) => a + (q.overflow?.total ?? 0), 0);
  const cqRetries = p.rings.completion.reduce((a, q) => a + q.pushRetries, 0);
  const cqPushes = p.rings.completion.reduce((a, q) => a + q.pushes, 0);
  const L = p.latency;
  const out: Finding[] = [
    {
      figure: 'CAS retries per push (submission ring)',
      value: ratio(sq.retriesPerPush),
      level: '0.1',
      high: sq.retriesPerPush > 0.1,
      meaning:
        'threads that submit fight over the same ring positions: each retry is a lost compare-and-swap and a cache line moving between cores. Submit from fewer threads, or in bursts from one thread.',
    },
    {
      figure: 'CAS retries per pop (submission ring)',
      value: ratio(sq.retriesPerPop),
      level: '0.1',
      high: sq.retriesPerPop > 0.1,
      meaning:
        'workers race each other for the next chain: more workers than the submissions keep busy. Fewer workers (option workers), or longer chains (more atoms per submission).',
    },
    {
      figure: 'CAS retries per push (completion rings)',
      value: ratio(cqPushes > 0 ? cqRetries / cqPushes : 0),
      level: '0.1',
      high: cqPushes > 0 && cqRetries / cqPushes > 0.1,
      meaning: 'workers finishing at once contend on one completion ring: one thread (or kqueue) reaps what many workers complete.',
    },
    {
      figure: 'worker parks per 1,000 chains',
      value: parksPer1k === undefined ? 'no chains' : parksPer1k.toFixed(1),
      level: '50',
      high: parksPer1k !== undefined && parksPer1k > 50,
      meaning:
        'workers run out of work and sleep between chains: submissions come in trickles, and each wake-up is a futex round trip (tens of µs) before the chain starts. Submit in bursts, or raise workerSpinUs when latency matters more than idle CPU.',
    },
    {
      figure: 'submit → start p99',
      value: `${us(L.submitToStart.p99)} µs`,
      level: '1,000 µs',
      high: L.submitToStart.p99 > NS_PER_MS,
      meaning:
        'chains wait in the submission ring for a worker: the workers are all busy (more workers, or shorter chains), were parked (see the parks), or had not started yet (a runtime started without waiting, as syslet du and syslet/fs start theirs, takes chains before its workers run; await Runtime.create() does not).',
    },
    {
      figure: 'complete → reap p99',
      value: `${us(L.completeToReap.p99)} µs`,
      level: '1,000 µs',
      high: L.completeToReap.p99 > NS_PER_MS,
      meaning:
        "finished chains wait for the submitting thread to reap them: its event loop is busy with other work (synchronous code, long callbacks). The time is the program's, not the rings': move CPU work off that thread or await completions sooner.",
    },
    {
      figure: 'completions through an overflow backlog',
      value: String(overflow),
      level: '0',
      high: overflow > 0,
      meaning: 'a completion ring was full: more chains finished than their thread reaped. A larger completionRingSize, or reap sooner.',
    },
    {
      figure: 'free ring empty (a submission found no free slot)',
      value: String(p.rings.free.emptyEvents),
      level: '0',
      high: p.rings.free.emptyEvents > 0,
      meaning: 'submissions waited for a request slot: more chains were in flight than the ring holds. A larger ringSize, or await rt.room() to pace the producer.',
    },
  ];
  return [...out.filter((f) => f.high), ...out.filter((f) => !f.high)];
}
