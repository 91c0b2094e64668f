/**
 * The predictor: a threadlet that keeps blocking starts on a worker directly, probing inline every
 * 8th call, then 16th, ...; a probe that runs clean brings it back inline. Outcomes here depend on
 * blocking calls only (no time budget), so the sequences are exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../../dist/index.js';
import type { ThreadletHandle } from '../../dist/threadlet/index.js';
import { maybeSleeps } from '../fixtures/threadlet/fns.mjs';

let rt: Runtime;

beforeAll(async () => {
  rt = await Runtime.create({ workers: 2 });
});

afterAll(async () => {
  await rt.close();
});

const code = (h: ThreadletHandle<unknown>): string => ({ inline: 'i', migrated: 'm', worker: 'w' })[h.placement];

describe('predictor', () => {
  it('learns, probes with a growing interval, and comes back when a probe runs clean', async () => {
    const handles: ThreadletHandle<unknown>[] = [];
    // 27 blocking calls: three to learn, then probes at calls 11 and 27.
    for (let i = 0; i < 27; i++) handles.push(maybeSleeps.run(rt, true));
    expect(handles.map(code).join('')).toBe(`mmm${'w'.repeat(7)}m${'w'.repeat(15)}m`);
    expect(maybeSleeps.stats()).toMatchObject({ prediction: 'worker', probeInterval: 32, untilProbe: 32 });
    // Now it stops blocking: on a worker until the next probe (call 32 from here), which runs
    // clean, and from then on inline.
    for (let i = 0; i < 34; i++) handles.push(maybeSleeps.run(rt, false));
    expect(handles.slice(27).map(code).join('')).toBe(`${'w'.repeat(31)}iii`);
    expect(maybeSleeps.stats()).toMatchObject({ prediction: 'inline', history: 0, probeInterval: 8 });
    // One blocking call in four is not enough to move.
    for (let i = 0; i < 8; i++) handles.push(maybeSleeps.run(rt, i % 4 === 0));
    expect(handles.slice(61).map(code).join('')).toBe('miiimiii');
    const values = await Promise.all(handles);
    expect(values.length).toBe(69);
    const s = maybeSleeps.stats();
    expect(s.calls).toBe(69);
    expect(s.inline + s.migrated + s.worker).toBe(69);
    expect(s.worker).toBe(7 + 15 + 31);
  });

  it("start: 'inline' and 'worker' override it", async () => {
    const a = maybeSleeps.submit(rt, [false], { start: 'worker' });
    expect(a.placement).toBe('worker');
    const b = maybeSleeps.submit(rt, [true], { start: 'inline' });
    expect(b.placement).toBe('migrated');
    await Promise.all([a, b]);
  });
});
