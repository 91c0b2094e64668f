/**
 * Inline first: a threadlet that does not block finishes on the calling thread, inside the call,
 * without a worker, a request slot or the arena.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { Runtime } from '../../dist/index.js';
import { ThreadletError, threadlet, type ThreadletHandle } from '../../dist/threadlet/index.js';
import { addOne, sleepy, statSize } from '../fixtures/threadlet/fns.mjs';
import { useRuntime } from '../helpers.js';
import { workerRuns } from './helpers.js';

const env = useRuntime({ workers: 2 });

describe('a threadlet that does not block', () => {
  it('stats a cached file inline: settled at once, no worker involved', () => {
    const f = path.join(env.dir, 'cached');
    fs.writeFileSync(f, 'twelve bytes');
    fs.statSync(f);
    const runsBefore = workerRuns(env.rt);
    const arenaBefore = env.rt.stats().arena.allocs;
    const h = statSize.run(env.rt, f);
    // Readable synchronously: no await between the call and these lines.
    expect(h.settled).toBe(true);
    expect(h.state).toBe('fulfilled');
    expect(h.value).toBe(12);
    expect(h.result()).toBe(12);
    expect(h.placement).toBe('inline');
    expect(h.id).toBeUndefined();
    expect(h.journaled).toBe(1); // the statSync
    expect(workerRuns(env.rt)).toBe(runsBefore);
    expect(env.rt.stats().arena.allocs).toBe(arenaBefore);
    expect(env.rt.stats().outstanding).toBe(0);
  });

  it('is still a thenable', async () => {
    await expect(addOne.run(env.rt, 41)).resolves.toBe(42);
    await expect(addOne.run(env.rt, 1).promise).resolves.toBe(2);
  });

  it('rejects with the error it threw inline, as a worker would hand it back', async () => {
    const err = Object.assign(new SyntaxError('inline failure'), { code: 'EPARSE' });
    const t = threadlet(import.meta.url, 'throwsInline', () => {
      throw err;
    });
    const h = t.run(env.rt);
    expect(h.state).toBe('rejected');
    // The same class, message, stack and properties; a copy, as it would be from a worker.
    expect(h.error).toBeInstanceOf(SyntaxError);
    expect(h.error).toMatchObject({ message: 'inline failure', code: 'EPARSE', stack: err.stack });
    expect(h.error).not.toBe(err);
    expect(() => h.result()).toThrow(h.error as Error);
    await expect(h).rejects.toBe(h.error);
  });

  it('counts its calls', () => {
    const before = addOne.stats();
    addOne.run(env.rt, 1);
    addOne.run(env.rt, 2);
    const after = addOne.stats();
    expect(after.calls - before.calls).toBe(2);
    expect(after.inline - before.inline).toBe(2);
    expect(after.migrated).toBe(before.migrated);
  });

  it('refuses a promise-returning function', () => {
    const t = threadlet(import.meta.url, 'asyncFn', async () => 1);
    const h = t.run(env.rt);
    expect(h.state).toBe('rejected');
    expect(h.error).toBeInstanceOf(ThreadletError);
    expect(String((h.error as Error).message)).toMatch(/synchronous/);
  });

  it('result() of a pending handle throws', async () => {
    const h = sleepy.submit(env.rt, ['late', 100], { start: 'worker' });
    expect(h.settled).toBe(false);
    expect(h.state).toBe('pending');
    expect(() => h.result()).toThrow(/still running/);
    await expect(h).resolves.toBe('late');
  });

  it('a threadlet its module does not define on the worker fails clearly', async () => {
    // Defined here under the fixture's URL, so the worker imports the fixture and misses it.
    const fixture = new URL('../fixtures/threadlet/fns.mjs', import.meta.url).href;
    const ghost = threadlet(fixture, 'ghost', () => 1);
    const h = ghost.submit(env.rt, [], { start: 'worker' });
    await expect(h).rejects.toBeInstanceOf(ThreadletError);
    expect(String((h.error as Error).message)).toMatch(/fns\.mjs does not define it/);
    // A module a worker cannot import (this TypeScript test file).
    const t = threadlet(import.meta.url, 'unimportable', () => 1);
    const h2 = t.submit(env.rt, [], { start: 'worker' });
    await expect(h2).rejects.toBeInstanceOf(ThreadletError);
    expect(String((h2.error as Error).message)).toMatch(/could not import/);
  });
});

describe('types', () => {
  it('arguments and result are typed end to end', () => {
    const t = threadlet(import.meta.url, 'typed', (path: string, n: number) => ({ path, n }));
    expectTypeOf(t.run).parameters.toEqualTypeOf<[rt: Runtime, path: string, n: number]>();
    const h = t.run(env.rt, 'p', 1);
    expectTypeOf(h).toEqualTypeOf<ThreadletHandle<{ path: string; n: number }>>();
    expectTypeOf(h.result()).toEqualTypeOf<{ path: string; n: number }>();
    expectTypeOf(t.submit).parameter(1).toEqualTypeOf<[path: string, n: number]>();
    // @ts-expect-error: a number where a string is expected
    expect(() => t.run(env.rt, 1, 1)).not.toThrow();
    expect(h.value).toEqual({ path: 'p', n: 1 });
  });
});

describe('validation', () => {
  it('names what is wrong', () => {
    expect(() => threadlet('not a url', 'x', () => 1)).toThrow(/url: expected the defining module's URL/);
    expect(() => threadlet(import.meta.url, '', () => 1)).toThrow(/name: expected a non-empty string/);
    expect(() => threadlet(import.meta.url, 'x', 5 as never)).toThrow(/fn: expected a function/);
    expect(() => threadlet(import.meta.url, 'x', () => 1, { budgetUs: -1 })).toThrow(/options.budgetUs/);
    expect(() => threadlet(import.meta.url, 'x', () => 1, { bogus: 1 } as never)).toThrow(/options.bogus: unknown option/);
    expect(() => addOne.submit(env.rt, [1], { start: 'sideways' as never })).toThrow(/options.start/);
    expect(() => addOne.submit(env.rt, [1], { kq: {} as never })).toThrow(/options.kq/);
    expect(() => addOne.run(undefined as never, 1)).toThrow(/expected a Runtime/);
  });
});
