import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * A leak grows with the number of chains; V8's heap sizing does not, and it differs between lines.
 * Node 24's V8 grows the young generation with the allocation rate (new space 32 -> 64 -> 128 MB
 * within the first 700,000 chains here, then flat): RSS rose 31% over the last 70% of a million
 * chains while the live heap after a full GC stayed at 8.9-9.0 MB, and RSS stayed flat from 0.6 to
 * 3 million chains. So the child pins the young generation at Node 20's and 22's size
 * (--max-semi-space-size=16, MB per semi-space), collects every 50,000 chains and takes the least
 * RSS of the 20 batches of each window (the workers' heaps move RSS by up to 25 MB from batch to
 * batch with their garbage; see the fixture), and the test asserts what a leak would grow: RSS,
 * and the bytes that stay live per chain.
 */
describe('memory', () => {
  it('a million chains through one runtime: RSS grows less than 10% after warm-up, nothing stays live per chain', () => {
    const script = fileURLToPath(new URL('../fixtures/memory-million.mjs', import.meta.url));
    const r = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=16', script, '1000000'], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.status, r.stderr).toBe(0);
    type Sample = { rss: number; heapUsed: number; external: number };
    const m = JSON.parse(r.stdout) as { total: number; warm: Sample; end: Sample; growth: Sample };
    expect(m.total).toBe(1_000_000);
    expect(m.growth.rss, r.stdout).toBeLessThan(0.1);
    // About 600,000 chains lie between the two windows: a leak of even one small object (12 bytes
    // or more) per chain would pass 8 bytes a chain; the live heap's own jitter is about 1 MB.
    const live = (s: Sample): number => s.heapUsed + s.external;
    expect((live(m.end) - live(m.warm)) / 600_000, r.stdout).toBeLessThan(8);
  }, 300_000);
});
