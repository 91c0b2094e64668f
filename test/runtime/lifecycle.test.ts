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
