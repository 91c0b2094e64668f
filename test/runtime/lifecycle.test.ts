import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Runtime, chain } from '../../dist/index.js';

describe('runtime lifecycle', () => {
  it('keeps the process alive while a chain is outstanding and lets it exit after', () => {
    const script = fileURLToPath(new URL('../fixtures/exit-when-idle.mjs', import.meta.url));
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const [status, pidOk, ms] = r.stdout.trim().split(' ');
    expect(status).toBe('done');
    expect(pidOk).toBe('true');
    // It waited for the 200 ms sleep rather than exiting with the chain in flight.
    expect(Number(ms)).toBeGreaterThanOrEqual(190);
  });

  it('close() waits for outstanding chains, then refuses new ones', async () => {
    const rt = await Runtime.create({ workers: 1 });
    const s = rt.submit(chain().nanosleep(50e6).nop(3).build());
    const closing = rt.close();
    expect(() => rt.submit(chain().nop().build())).toThrow('syslet runtime is closing: submit refused');
    await closing;
    expect((await s).result).toBe(3);
    expect(() => rt.submit(chain().nop().build())).toThrow('syslet runtime is closed: submit refused');
  });

  it('alloc and free hand out arena memory and refuse what is not theirs', async () => {
    await using rt = await Runtime.create({ workers: 1, arenaBytes: 1 << 16 });
    const b = rt.alloc(1000);
    expect(b.length).toBe(1000);
    expect(rt.stats().arena.inUse).toBe(1024);
    expect(() => rt.alloc(1 << 17)).toThrow('alloc: no free block of 131072 bytes in the arena (1024 of 65536 bytes in use; option arenaBytes)');
    expect(() => rt.free(Buffer.alloc(4))).toThrow("free: expected a Buffer returned by this runtime's alloc()");
    rt.free(b);
    expect(rt.stats().arena.inUse).toBe(0);
  });
});

describe('timing of sampled chains', () => {
  it('says when each stage happened and which worker ran it', async () => {
    await using rt = await Runtime.create({ workers: 1, latencySample: 1 });
    const c = await rt.run(chain().nanosleep(2e6).build());
    const t = c.timing!;
    expect(t.worker).toBe(rt.stats().workers[0]!.slot);
    expect(t.submitted).toBeLessThanOrEqual(t.started);
    expect(t.completed - t.started).toBeGreaterThanOrEqual(2);
    expect(t.completed).toBeLessThanOrEqual(t.reaped);
    const st = rt.stats().latency;
    expect(st.startToComplete.count).toBe(1);
    expect(st.completeToReap.count).toBe(1);
    await using unsampled = await Runtime.create({ workers: 1, latencySample: 1 << 20 });
    await unsampled.run(chain().nop().build()); // the first is always sampled
    expect((await unsampled.run(chain().nop().build())).timing).toBeUndefined();
  });
});
