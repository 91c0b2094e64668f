/**
 * The public sizing of chains against `slotBytes` (encodedBytes, atomEncodedBytes, CHAIN_BASE_BYTES,
 * PreparedChain.bytes) and the public readdirInOrder, as a user of the package reaches them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHAIN_BASE_BYTES,
  ChainError,
  Runtime,
  atomEncodedBytes,
  encodedBytes,
  readdirInOrder,
  type Atom,
  type Chain,
} from '../../dist/index.js';
import { tempDir } from '../helpers.js';

let rt: Runtime;

beforeAll(async () => {
  rt = await Runtime.create({ workers: 1, slotBytes: 4096 });
});

afterAll(async () => {
  await rt.close();
});

/** Chains of every kind of argument that takes room: strings (ASCII, not, bytes), literals, vars, buffers. */
const CHAINS: [string, Chain][] = [
  ['one nop', { atoms: [{ op: 'nop' }] }],
  ['nop with an int', { atoms: [{ op: 'nop', args: [7] }] }],
  ['nop with a float literal', { atoms: [{ op: 'nop', args: [1.5], into: 'x' }] }],
  ['nop with -0 (a literal)', { atoms: [{ op: 'nop', args: [-0] }] }],
  ['lstat, ASCII path', { atoms: [{ op: 'lstat', args: ['/tmp/abc'], into: 's' }] }],
  ['lstat, non-ASCII path', { atoms: [{ op: 'lstat', args: ['/tmp/é€😀'], into: 's' }] }],
  ['lstat, a path as bytes', { atoms: [{ op: 'lstat', args: [Buffer.from([0x2f, 0x74, 0xff, 0x78])], into: 's' }] }],
  ['open with string flags, the optional mode left out', { atoms: [{ op: 'open', args: ['/nonexistent/x', 'r'], into: 'fd' }] }],
  ['utimes with float times', { atoms: [{ op: 'utimes', args: ['/nonexistent/y', 1.25, 2.5] }] }],
  [
    'declared variables, one variable assigned twice, a variable reference',
    {
      vars: { n: 3, m: 0.5 },
      atoms: [
        { op: 'nop', args: [1], into: 'a' },
        { op: 'nop', args: [{ var: 'n' }], into: 'a' },
        { op: 'umem_add', args: [{ var: 'm' }, 2.25] },
      ],
    },
  ],
  [
    'a declared buffer',
    {
      buffers: { b: 64, c: { data: 'hello' } },
      atoms: [
        { op: 'open', args: ['/nonexistent/z', 'r'], into: 'fd' },
        { op: 'read', args: [{ var: 'fd' }, { buf: 'b' }, 64] },
      ],
    },
  ],
  [
    'many atoms',
    { atoms: Array.from({ length: 37 }, (_, i): Atom => ({ op: 'lstat', args: [`/tmp/${'d'.repeat(i)}`], into: `v${i}` })) },
  ],
];

describe('encodedBytes: the bytes a chain takes in a request slot', () => {
  it.each(CHAINS)('%s: equals what the runtime lays out (rt.prepare(chain).bytes)', (_name, c) => {
    const bytes = encodedBytes(c);
    expect(bytes % 8).toBe(0);
    expect(rt.prepare(c).bytes).toBe(bytes);
  });

  it('a chain of exactly slotBytes is accepted, one of 8 bytes more is refused, at that figure', async () => {
    const small = await Runtime.create({ workers: 1, slotBytes: 256 });
    try {
      const lstat = (n: number): Chain => ({ atoms: [{ op: 'lstat', args: ['/'.repeat(n)], into: 's' }] });
      let n = 0;
      while (encodedBytes(lstat(n)) < 256) n++;
      expect(encodedBytes(lstat(n))).toBe(256);
      expect(small.prepare(lstat(n)).bytes).toBe(256);
      let m = n;
      while (encodedBytes(lstat(m)) === 256) m++;
      expect(encodedBytes(lstat(m))).toBe(264);
      expect(() => small.prepare(lstat(m))).toThrow(
        new ChainError('chain: larger than the ring can hold: it encodes to 264 bytes, a ring slot holds 256 (option slotBytes)'),
      );
    } finally {
      await small.close();
    }
  });

  it('an unknown operation is refused, naming the atom', () => {
    const c = { atoms: [{ op: 'nop' }, { op: 'opne', args: [] }] } as unknown as Chain;
    expect(() => encodedBytes(c)).toThrow(expect.objectContaining({ name: 'ChainError', message: 'chain.atoms[1]: unknown operation "opne"', atom: 1 }));
    expect(() => atomEncodedBytes({ op: 'stat!' } as unknown as Atom)).toThrow(new ChainError('atom: unknown operation "stat!"'));
  });
});

describe('atomEncodedBytes: what one atom adds', () => {
  it('counts its table word, header, 3 words per parameter, its strings, literals and variable', () => {
    // 4 + 16 + 12 per parameter.
    expect(atomEncodedBytes({ op: 'nop' })).toBe(32);
    expect(atomEncodedBytes({ op: 'nop', args: [1.5] })).toBe(40);
    expect(atomEncodedBytes({ op: 'nop', args: [1.5], into: 'x' })).toBe(52);
    expect(atomEncodedBytes({ op: 'lstat', args: ['abc'] })).toBe(35);
    expect(atomEncodedBytes({ op: 'lstat', args: ['é'] })).toBe(34);
    expect(atomEncodedBytes({ op: 'lstat', args: [Buffer.from([0xff, 0xfe])] })).toBe(34);
    // open has 3 parameters, the string flags are an int.
    expect(atomEncodedBytes({ op: 'open', args: ['/a', 'r'] })).toBe(4 + 16 + 36 + 2);
  });

  it('a chain of distinct variables takes 64 + the sum, and at most CHAIN_BASE_BYTES + the sum', () => {
    expect(CHAIN_BASE_BYTES).toBe(75);
    for (let n = 1; n <= 40; n++) {
      const atoms = Array.from({ length: n }, (_, i): Atom =>
        i % 3 === 0 ? { op: 'nop', args: [i + 0.5], into: `v${i}` } : { op: 'lstat', args: ['x'.repeat(i % 11)], into: `v${i}` },
      );
      const sum = atoms.reduce((s, a) => s + atomEncodedBytes(a), 0);
      const bytes = encodedBytes({ atoms });
      expect(bytes).toBeGreaterThanOrEqual(64 + sum);
      expect(bytes).toBeLessThanOrEqual(CHAIN_BASE_BYTES + sum);
    }
  });
});

describe('readdirInOrder: a directory in its own order, as the readdir atom returns it', () => {
  let dir: string;
  let cleanup: () => void;
  beforeAll(() => {
    ({ dir, cleanup } = tempDir('syslet-readdir-'));
    for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(dir, `f${(i * 37) % 50}`), '');
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'é\ufffd'), '');
  });
  afterAll(() => cleanup());

  it('gives the names the readdir atom gives, in the same order, without . and ..', async () => {
    const names = readdirInOrder(dir);
    expect(names).toHaveLength(52);
    expect(names).not.toContain('.');
    expect(names).not.toContain('..');
    // A name holding U+FFFD itself is valid UTF-8: a string.
    expect(names).toContain('é\ufffd');
    const c = await rt.run({ atoms: [{ op: 'readdir', args: [dir], into: 'names' }] });
    expect(c.result).toBe(52);
    expect(c.values!.names).toEqual(names);
    // The directory's own order, which opendir also sees (fs.readdirSync sorts it away).
    const d = fs.opendirSync(dir);
    const seen: string[] = [];
    for (let e = d.readSync(); e !== null; e = d.readSync()) seen.push(e.name);
    d.closeSync();
    expect(names).toEqual(seen);
  });

  it('gives a name that is not UTF-8 as its bytes, which lstat and a chain accept back', async () => {
    const { dir: d, cleanup: done } = tempDir('syslet-readdir-bytes-');
    try {
      const raw = Buffer.from([0x61, 0xff, 0x62]);
      fs.writeFileSync(Buffer.concat([Buffer.from(`${d}/`), raw]), 'xyz');
      fs.writeFileSync(path.join(d, 'plain'), '');
      const names = readdirInOrder(d);
      expect(names).toHaveLength(2);
      const bytes = names.find((n) => typeof n !== 'string');
      expect(Buffer.isBuffer(bytes)).toBe(true);
      expect(bytes).toEqual(raw);
      expect(names).toContain('plain');
      // Also given as bytes, the directory's path reads the same.
      expect(readdirInOrder(Buffer.from(d))).toEqual(names);
      const full = Buffer.concat([Buffer.from(`${d}/`), bytes as Buffer]);
      expect(fs.lstatSync(full).size).toBe(3);
      const c = await rt.run({ atoms: [{ op: 'lstat', args: [full], into: 's' }] });
      expect(c.result).toBe(0);
    } finally {
      done();
    }
  });

  it("throws what fs.opendirSync throws: Node's error with code and errno", () => {
    expect(() => readdirInOrder(path.join(dir, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT', errno: -2 }));
    expect(() => readdirInOrder(path.join(dir, 'f1'))).toThrow(expect.objectContaining({ code: 'ENOTDIR', errno: -20 }));
  });
});
