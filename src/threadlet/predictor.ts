/**
 * Per-threadlet predictor: should the next call start on a worker directly?
 *
 * Starting inline costs a threadlet that then blocks the CPU time of its inline part twice (once
 * inline, once replayed on the worker); the journal spares the I/O, not the code between calls. A
 * threadlet that usually blocks is better started on a worker, like a branch that is usually taken.
 *
 * The predictor keeps the outcomes of the last four inline runs, one bit each: 1 when the run
 * blocked (it migrated, or it finished inline but overran the budget, so it held the event loop
 * too long). With three or more of four blocked it predicts "worker": calls start on a worker,
 * and every `interval`-th call probes inline again. A probe that blocks doubles the interval (8, 16,
 * ... 256); one that runs clean returns to "inline" with an empty history. A direct start teaches
 * nothing (it never tries inline), which is why probing exists.
 */

const HISTORY_BITS = 4;
const HISTORY_MASK = (1 << HISTORY_BITS) - 1;
const BLOCKED_TO_PREDICT_WORKER = 3;
const FIRST_PROBE_INTERVAL = 8;
const MAX_PROBE_INTERVAL = 256;

export type Prediction = 'inline' | 'worker';

export interface PredictorStats {
  /** What the next call will do unless told otherwise. */
  prediction: Prediction;
  /** Calls of the last HISTORY_BITS inline runs that blocked (bit 0: the latest). */
  history: number;
  /** Calls until the next inline probe (prediction 'worker'). */
  untilProbe: number;
  /** The current probe interval. */
  probeInterval: number;
}

function popcount4(x: number): number {
  return (x & 1) + ((x >> 1) & 1) + ((x >> 2) & 1) + ((x >> 3) & 1);
}

export class Predictor {
  #history = 0;
  #worker = false;
  #untilProbe = 0;
  #interval = FIRST_PROBE_INTERVAL;

  /** Decide for this call: true to start on a worker. */
  startOnWorker(): boolean {
    if (!this.#worker) return false;
    // Every interval-th call is a probe: it starts inline, and record() hears how it went.
    return --this.#untilProbe > 0;
  }

  /** The outcome of a call that started inline. */
  record(blocked: boolean): void {
    if (this.#worker) {
      // That was a probe.
      if (blocked) {
        this.#interval = Math.min(this.#interval * 2, MAX_PROBE_INTERVAL);
        this.#untilProbe = this.#interval;
      } else {
        this.#worker = false;
        this.#history = 0;
        this.#interval = FIRST_PROBE_INTERVAL;
      }
      return;
    }
    this.#history = ((this.#history << 1) | (blocked ? 1 : 0)) & HISTORY_MASK;
    if (popcount4(this.#history) >= BLOCKED_TO_PREDICT_WORKER) {
      this.#worker = true;
      this.#untilProbe = this.#interval;
    }
  }

  stats(): PredictorStats {
    return {
      prediction: this.#worker && this.#untilProbe > 1 ? 'worker' : 'inline',
      history: this.#history,
      untilProbe: this.#worker ? this.#untilProbe : 0,
      probeInterval: this.#interval,
    };
  }
}
