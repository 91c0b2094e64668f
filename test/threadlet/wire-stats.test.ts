/**
 * fs.Stats and BigIntStats across threads on every Node line: Node 20 sets the Date fields in the
 * constructor; Node 22 and later compute each on first read from its *Ms field and keep it as an
 * own property (enumerable from 24 on). The rebuilt Stats owns exactly the Date fields the original
 * owned, with their times, and computes the others as Node does.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WireMode, fromWire, toWire, wireEqual } from '../../dist/threadlet/wire.js';
import { pack, unpack } from '../../dist/threadlet/pack.js';

const roundTrip = <T>(v: T): T => fromWire(unpack(pack(toWire(v, WireMode.EXACT)))) as T;
const DATES = ['atime', 'mtime', 'ctime', 'birthtime'] as const;
const own = (o: object): Record<string, PropertyDescriptor | undefined> =>
  Object.fromEntries(DATES.map((k) => [k, Object.getOwnPropertyDescriptor(o, k)]));

describe.each([
  ['fs.Stats', () => fs.statSync('.')],
  ['BigIntStats', () => fs.statSync('.', { bigint: true })],
])('%s', (_name, stat) => {
  it('as returned (no date read yet): equal, same own properties, same dates when read', () => {
    const st = stat();
    const r = roundTrip(st);
    expect(Object.getPrototypeOf(r)).toBe(Object.getPrototypeOf(st));
    expect(own(r)).toEqual(own(st));
    expect(r).toEqual(st);
    for (const k of DATES) expect(r[k].getTime()).toBe(st[k].getTime());
    expect(r).toEqual(st); // Both have now read (and, on Node 22+, cached) all four.
    expect(r.isDirectory()).toBe(true);
  });

  it('own symbol fields travel: the nanosecond *Instant accessors agree (Node 26 has them)', () => {
    const st = stat();
    const r = roundTrip(st);
    expect(Object.getOwnPropertySymbols(r).map(String)).toEqual(Object.getOwnPropertySymbols(st).map(String));
    const instants = DATES.map((k) => `${k}Instant`).filter((k) => k in st);
    // Node 26 (Temporal): the four accessors; earlier lines: none.
    expect(instants.length).toBe(typeof (globalThis as { Temporal?: unknown }).Temporal === 'object' ? 4 : 0);
    for (const k of instants) expect(String((r as unknown as Record<string, unknown>)[k])).toBe(String((st as unknown as Record<string, unknown>)[k]));
  });

  it('after one date was read: that one is owned on both sides, the others still computed', () => {
    const st = stat();
    const mtime = st.mtime.getTime();
    const r = roundTrip(st);
    expect(own(r)).toEqual(own(st));
    expect(Object.hasOwn(r, 'mtime')).toBe(true);
    expect(r.mtime.getTime()).toBe(mtime);
    expect(r).toEqual(st);
  });

  it('a date field replaced by a non-Date is refused, not guessed; COMPARE mode tells them apart', () => {
    const st = stat();
    const replaced = stat();
    Object.defineProperty(replaced, 'atime', { value: 'yesterday', writable: true, enumerable: true, configurable: true });
    expect(() => toWire(replaced, WireMode.EXACT)).toThrow(/\.atime is not a Date \(got string\)/);
    expect(wireEqual(toWire(replaced, WireMode.COMPARE), toWire(st, WireMode.COMPARE))).toBe(false);
    expect(wireEqual(toWire(stat(), WireMode.COMPARE), toWire(st, WireMode.COMPARE))).toBe(true);
  });
});
