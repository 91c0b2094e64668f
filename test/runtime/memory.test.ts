import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('memory', () => {
  it('a million chains through one runtime: RSS grows less than 10% after warm-up', () => {
    const script = fileURLToPath(new URL('../fixtures/memory-million.mjs', import.meta.url));
    const r = spawnSync(process.execPath, ['--expose-gc', script, '1000000'], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout) as { total: number; warm: number; end: number; growth: number };
    expect(m.total).toBe(1_000_000);
    expect(m.growth).toBeLessThan(0.1);
  }, 300_000);
});
