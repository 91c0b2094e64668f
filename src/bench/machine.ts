/** What a benchmark ran on, printed beside its figures (bench/RESULTS.md records the same). */
import { execSync } from 'node:child_process';
import os from 'node:os';

/** CPU model, cores, memory, OS, Node and the checkout's commit, plus the scenario's own fields. */
export function machine(extra: Record<string, string | number> = {}): Record<string, string | number> {
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout (an installed package)
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    commit,
    ...extra,
  };
}
