/** Values across threads: what the journal and results carry, rebuilt as what they were. */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WireMode, describeWire, fromWire, toWire, wireEqual, wireShared } from '../../dist/threadlet/wire.js';
import { registerErrorClass } from '../../dist/threadlet/index.js';
import { pack, unpack } from '../../dist/threadlet/pack.js';

// The path a result takes: wire form, packed into a record, read back, rebuilt.
const roundTrip = <T>(v: T): T => {
  const w = toWire(v, WireMode.EXACT);
  return fromWire(unpack(pack(w, wireShared()))) as T;
};

class ParseError extends SyntaxError {
  line = 3;
}

describe('wire', () => {
  it('fs.Stats, BigIntStats, Dirent, StatFs', () => {
    const st = fs.statSync('.');
    const r = roundTrip(st);
    expect(r).toBeInstanceOf(fs.Stats);
    expect(r).toEqual(st);
    expect(r.isDirectory()).toBe(true);
    const b = fs.statSync('.', { bigint: true });
    const rb = roundTrip(b);
    expect(rb).toEqual(b);
    expect(rb.ino).toBe(b.ino);
    expect(rb.isDirectory()).toBe(true);
    const ds = fs.readdirSync('.', { withFileTypes: true });
    const rd = roundTrip(ds);
    expect(rd).toEqual(ds);
    expect(rd.map((d) => d.isDirectory())).toEqual(ds.map((d) => d.isDirectory()));
    const sf = fs.statfsSync('.');
    expect(roundTrip(sf)).toEqual(sf);
  });

  it('errors: class, name, message, stack, own properties, cause, AggregateError', () => {
    const e = Object.assign(new ParseError('unexpected token', { cause: new RangeError('deep') }), { extra: [1, 2] });
    const r = roundTrip(e);
    expect(r).not.toBeInstanceOf(ParseError);
    expect(r).toBeInstanceOf(SyntaxError);
    expect(r.constructor.name).toBe('ParseError');
    expect(r.message).toBe('unexpected token');
    expect(r.stack).toBe(e.stack);
    expect(r.line).toBe(3);
    expect((r as unknown as { extra: number[] }).extra).toEqual([1, 2]);
    expect(r.cause).toBeInstanceOf(RangeError);
    registerErrorClass(ParseError);
    expect(roundTrip(e)).toBeInstanceOf(ParseError);
    const agg = roundTrip(new AggregateError([new TypeError('a')], 'many'));
    expect(agg).toBeInstanceOf(AggregateError);
    expect(agg.errors[0]).toBeInstanceOf(TypeError);
  });

  it('Maps, Sets, URLs, Buffers, typed arrays, Dates, and a plain object that owns the tag key', () => {
    const v = {
      m: new Map<unknown, unknown>([[{ k: 1 }, new Set([new URL('file:///a')])]]),
      b: Buffer.from('abc'),
      f: new Float64Array([1.5]),
      d: new Date(5),
      dv: new DataView(new ArrayBuffer(2)),
      tricky: { __syslet$: 'err', v: 1 },
    };
    const r = roundTrip(v);
    expect(r).toEqual(v);
    expect(Buffer.isBuffer(r.b)).toBe(true);
  });

  it('what cannot travel is named by where it is', () => {
    expect(() => toWire([1, { a: { f() {} } }], WireMode.EXACT, 'argument')).toThrow('argument[1].a.f is a function (f)');
    expect(() => toWire({ s: new Int32Array(new SharedArrayBuffer(4)) }, WireMode.EXACT)).toThrow('value.s is a view of a SharedArrayBuffer');
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 1005; i++) deep = { deep };
    expect(() => toWire(deep, WireMode.EXACT)).toThrow(/nested more than 1000 levels deep/);
  });

  it('COMPARE mode describes what it cannot copy, and compares bytes', () => {
    const a = toWire([Buffer.from('x'), () => 1, new Int32Array(new SharedArrayBuffer(8))], WireMode.COMPARE);
    const b = toWire([Buffer.from('x'), () => 2, new Int32Array(new SharedArrayBuffer(8))], WireMode.COMPARE);
    expect(wireEqual(a, b)).toBe(true);
    expect(wireEqual(toWire([Buffer.from('x')], WireMode.COMPARE), toWire([Buffer.from('y')], WireMode.COMPARE))).toBe(false);
    expect(wireEqual(toWire([NaN, -0], WireMode.COMPARE), toWire([NaN, -0], WireMode.COMPARE))).toBe(true);
    expect(wireEqual(toWire([0], WireMode.COMPARE), toWire([-0], WireMode.COMPARE))).toBe(false);
  });

  it('records: the compact encoding round-trips, and falls back to v8 for the rest', () => {
    const long = 'x'.repeat(1000);
    const v = {
      ints: [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -0, NaN, Infinity, 1.5, Number.MAX_SAFE_INTEGER],
      strings: ['', 'ascii', 'héllo wörld', '日本語', '😀', long, `${long}é`],
      other: [true, false, null, undefined, 12n, -(2n ** 70n), new Date(1234)],
      bytes: Buffer.from([0, 255, 7]),
      u8: new Uint8Array([1, 2]),
      nested: { a: [{ b: { c: [] } }], 'key with é': 1 },
    };
    const r = unpack(Buffer.from(pack(v))) as typeof v;
    expect(r).toEqual(v);
    expect(Object.is(r.ints[6], -0)).toBe(true);
    expect(Buffer.isBuffer(r.bytes)).toBe(true);
    expect(Buffer.isBuffer(r.u8)).toBe(false);
    // A Float32Array is not in the compact encoding: the whole record goes through v8.serialize.
    const f = { x: new Float32Array([1.5]), s: 'still fine' };
    expect(unpack(Buffer.from(pack(f)))).toEqual(f);
    // Read from shared memory, nothing returned aliases it.
    const sab = new Uint8Array(new SharedArrayBuffer(64));
    const rec = pack({ b: Buffer.from('abc') });
    sab.set(rec);
    const got = unpack(sab.subarray(0, rec.byteLength)) as { b: Buffer };
    sab.fill(0);
    expect(got.b.toString()).toBe('abc');
  });

  it('cycles and shared references come back as structuredClone keeps them', () => {
    class Item {
      constructor(
        public name: string,
        public parent: unknown,
      ) {}
    }
    const root: Record<string, unknown> = { kids: [] };
    const shared = new Map([['k', new Set([1])]]);
    const err = Object.assign(new Error('e'), { self: undefined as unknown });
    err.self = err;
    for (const n of ['a', 'b']) (root.kids as unknown[]).push(new Item(n, root));
    const v = { root, shared, again: shared, err, buf: Buffer.from('x') };
    const w = toWire(v, WireMode.EXACT);
    expect(wireShared()).toBe(true);
    const r = fromWire(unpack(pack(w, true))) as typeof v;
    const kids = r.root.kids as Array<{ parent: unknown; name: string }>;
    expect(kids[0]!.parent).toBe(r.root);
    expect(kids[1]!.parent).toBe(r.root);
    expect(kids[0]).not.toBeInstanceOf(Item);
    expect(r.again).toBe(r.shared);
    expect(r.shared.get('k')).toEqual(new Set([1]));
    expect(r.err.self).toBe(r.err);
    expect(Buffer.isBuffer(r.buf) && r.buf.toString()).toBe('x');
    // A tree without shared objects stays on the compact encoding.
    toWire({ a: [1, { b: 2 }] }, WireMode.EXACT);
    expect(wireShared()).toBe(false);
    // COMPARE mode: a repeated object is its visit number, equal on both sides when shaped alike.
    const c1: Record<string, unknown> = { n: 1 };
    c1.self = c1;
    const c2: Record<string, unknown> = { n: 1 };
    c2.self = c2;
    expect(wireEqual(toWire([c1], WireMode.COMPARE), toWire([c2], WireMode.COMPARE))).toBe(true);
  });

  it('descriptions print values as they are: dates, buffers by their bytes, maps, regexps', () => {
    const w = toWire([new Date(Date.UTC(2026, 10, 30, 10, 53, 34, 120)), Buffer.from('hello'), Buffer.from([0, 255]), new Map([[1, 'a']]), /x+/g, -0], WireMode.COMPARE);
    expect(describeWire(w)).toBe('[2026-11-30T10:53:34.120Z, <Buffer 5 bytes: "hello">, <Buffer 2 bytes: 00 ff>, Map([1, "a"]), /x+/g, -0]');
  });
});
