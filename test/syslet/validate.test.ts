import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainError, Runtime, chain, type Chain } from '../../dist/index.js';

let rt: Runtime;
let other: Runtime;

beforeAll(async () => {
  rt = await Runtime.create({ workers: 1, slotBytes: 1024 });
  other = await Runtime.create({ workers: 1 });
});

afterAll(async () => {
  await rt.close();
  await other.close();
});

/** The ChainError that submitting `c` throws. */
function refusal(c: unknown): ChainError {
  try {
    rt.submit(c as Chain);
  } catch (e) {
    expect(e).toBeInstanceOf(ChainError);
    return e as ChainError;
  }
  throw new Error('submit accepted the chain');
}

describe('bad input is refused at submit with a precise error', () => {
  it('not a chain', () => {
    expect(refusal(42).message).toBe('chain: expected an object { atoms: [...] }, got 42');
    expect(refusal({ atoms: [] }).message).toBe('chain.atoms: expected a non-empty array of atoms, got an array of 0');
    expect(refusal({ atoms: [{ op: 'nop' }], extra: 1 }).message).toBe(
      'chain: unknown field "extra"; expected atoms, vars, buffers',
    );
  });

  it('unknown operation', () => {
    const e = refusal({ atoms: [{ op: 'nop' }, { op: 'opne', args: ['/x', 'r'] }] });
    expect(e.message).toMatch(/^chain\.atoms\[1\]: unknown operation "opne"; expected one of nop, open, close, read, /);
    expect(e.atom).toBe(1);
  });

  it('unknown atom field', () => {
    expect(refusal({ atoms: [{ op: 'nop', nxt: 0 }] }).message).toBe(
      'chain.atoms[0]: unknown field "nxt"; expected op, args, into, flags, next',
    );
  });

  it('wrong arity', () => {
    const e = refusal({ atoms: [{ op: 'read', args: [0, { buf: 'b' }] }], buffers: { b: 16 } });
    expect(e.message).toBe('chain.atoms[0] (read): expected 3 arguments (fd, buf, count), got 2');
    expect(e).toMatchObject({ atom: 0, op: 'read' });
    expect(refusal({ atoms: [{ op: 'open', args: ['/a', 'r', 1, 2] }] }).message).toBe(
      'chain.atoms[0] (open): expected 2 to 3 arguments (path, flags, mode?), got 4',
    );
  });

  it('wrong argument types', () => {
    const e = refusal({ atoms: [{ op: 'stat', args: [7] }] });
    expect(e.message).toBe('chain.atoms[0] (stat): argument 0 (path): expected a path string (or its bytes, a Buffer), got 7');
    expect(e).toMatchObject({ atom: 0, op: 'stat', argument: 0 });
    expect(refusal({ atoms: [{ op: 'close', args: ['3'] }] }).message).toBe(
      'chain.atoms[0] (close): argument 0 (fd): expected an integer or { var }, got "3"',
    );
    expect(refusal({ atoms: [{ op: 'close', args: [1.5] }] }).message).toBe(
      'chain.atoms[0] (close): argument 0 (fd): expected an integer or { var }, got 1.5',
    );
    expect(refusal({ atoms: [{ op: 'open', args: ['/a', 'rw'] }] }).message).toBe(
      "chain.atoms[0] (open): argument 1 (flags): expected open flags: an integer or one of 'r', 'r+', 'w', 'wx', 'w+', 'a', 'ax', 'a+' ..., got \"rw\"",
    );
    expect(refusal({ atoms: [{ op: 'stat', args: ['/a\0b'] }] }).message).toBe(
      'chain.atoms[0] (stat): argument 0 (path): expected a path string without NUL bytes, got "/a\\u0000b"',
    );
    // A path as bytes (a name that is not UTF-8) is a path too, and NUL is refused there as well.
    expect(refusal({ atoms: [{ op: 'stat', args: [Buffer.from([0x2f, 0x61, 0x00])] }] }).message).toMatch(
      /^chain\.atoms\[0\] \(stat\): argument 0 \(path\): expected a path without NUL bytes, got /,
    );
    expect(refusal({ vars: { x: 0 }, atoms: [{ op: 'umem_add', args: ['x', 1] }] }).message).toBe(
      'chain.atoms[0] (umem_add): argument 0 (var): expected a variable { var: name }, got "x"',
    );
    expect(refusal({ atoms: [{ op: 'read', args: [0, 'b', 1] }] }).message).toBe(
      'chain.atoms[0] (read): argument 1 (buf): expected a buffer reference { buf: name | address, offset?, length? } or a Buffer from rt.alloc(), got "b"',
    );
  });

  it('undefined variable', () => {
    const e = refusal({ atoms: [{ op: 'open', args: ['/a', 'r'], into: 'fd' }, { op: 'close', args: [{ var: 'fdd' }] }] });
    expect(e.message).toBe(
      'chain.atoms[1] (close): argument 0 (fd): variable "fdd" is undefined: no atom assigns it with into and chain.vars does not declare it',
    );
    expect(e).toMatchObject({ atom: 1, argument: 0 });
  });

  it('undefined buffer', () => {
    expect(refusal({ atoms: [{ op: 'read', args: [0, { buf: 'nope' }, 1] }] }).message).toBe(
      'chain.atoms[0] (read): argument 1 (buf): buffer "nope" is undefined: chain.buffers does not declare it',
    );
    expect(refusal({ atoms: [{ op: 'read', args: [0, { buf: 12 }, 1] }] }).message).toBe(
      'chain.atoms[0] (read): argument 1 (buf): buffer address 12 is not inside a live rt.alloc() allocation',
    );
  });

  it('buffers that are too small or not ours', () => {
    expect(refusal({ buffers: { b: 16 }, atoms: [{ op: 'read', args: [0, { buf: 'b' }, 17] }] }).message).toBe(
      "chain.atoms[0] (read): argument 2 (count): 17 bytes exceed the buffer's 16 bytes",
    );
    expect(refusal({ buffers: { b: 16 }, atoms: [{ op: 'read', args: [0, { buf: 'b', offset: 8, length: 9 }, 1] }] }).message).toBe(
      "chain.atoms[0] (read): argument 1 (buf): length 9 runs past the buffer's end (8 bytes from offset 8)",
    );
    const foreign = other.alloc(64);
    expect(refusal({ atoms: [{ op: 'read', args: [0, foreign, 8] }] }).message).toBe(
      "chain.atoms[0] (read): argument 1 (buf): expected a buffer reference { buf: name | address, offset?, length? } or a Buffer from rt.alloc(), got a Buffer of 64 bytes that rt.alloc() did not return",
    );
    expect(() => rt.submit(chain().read(0, foreign, 8).build())).toThrow(
      'chain: a Buffer given to the builder was not allocated by this runtime (use rt.alloc())',
    );
    other.free(foreign);
  });

  it('next out of range', () => {
    const e = refusal({ atoms: [{ op: 'nop' }, { op: 'nop', next: 2 }] });
    expect(e.message).toBe('chain.atoms[1] (nop): next: expected an atom index from 0 to 1, or null to end, got 2');
    expect(refusal({ atoms: [{ op: 'nop', next: -1 }] }).message).toBe(
      'chain.atoms[0] (nop): next: expected an atom index from 0 to 0, or null to end, got -1',
    );
  });

  it('bad flags', () => {
    expect(refusal({ atoms: [{ op: 'nop', flags: 0x100 }] }).message).toBe(
      'chain.atoms[0] (nop): flags: expected SYSLET_* bits (an integer within 0xff), got 256',
    );
    expect(refusal({ atoms: [{ op: 'nop', flags: 3 }] }).message).toBe(
      'chain.atoms[0] (nop): flags: SYSLET_SYNC and SYSLET_ASYNC exclude each other, got both (3)',
    );
  });

  it('bad variables and buffer declarations', () => {
    expect(refusal({ vars: { x: 'one' }, atoms: [{ op: 'nop' }] }).message).toBe(
      'chain.vars.x: expected a finite number, got "one"',
    );
    expect(refusal({ buffers: { b: 0 }, atoms: [{ op: 'nop' }] }).message).toBe(
      'chain.buffers.b: expected a size in bytes from 1 to 16777216 (option maxBufferBytes), got 0',
    );
    expect(refusal({ atoms: [{ op: 'nop', into: '' }] }).message).toBe(
      'chain.atoms[0] (nop): into: expected a variable name (a non-empty string), got ""',
    );
  });

  it('a chain larger than the ring can hold', () => {
    const atoms = Array.from({ length: 40 }, (_, i) => ({ op: 'stat' as const, args: [`/some/rather/long/path/number/${i}`] }));
    // 40 atoms of 4 header words and one 3-word argument, 40 variables, 40 paths of 31-32 bytes.
    expect(refusal({ atoms }).message).toBe(
      'chain: larger than the ring can hold: it encodes to 2616 bytes, a ring slot holds 1024 (option slotBytes)',
    );
  });

  it('bad submit options', () => {
    const c: Chain = { atoms: [{ op: 'nop' }] };
    expect(() => rt.submit(c, { timeoutMs: -1 })).toThrow('submit: timeoutMs: expected a finite non-negative number of milliseconds, got -1');
    expect(() => rt.submit(c, { vars: { q: 1 } })).toThrow('submit: vars.q: the chain has no variable "q"');
    expect(() => rt.submit(c, { stepBudget: 0 })).toThrow("submit: stepBudget: expected a positive integer up to the runtime's 1000000 (option stepBudget), got 0");
  });

  it('bad runtime options', async () => {
    await expect(Runtime.create({ ringSize: 1000 })).rejects.toThrow('options.ringSize: expected a power of two, got 1000');
    await expect(Runtime.create({ workers: 0 })).rejects.toThrow('options.workers: expected an integer from 1 to 256, got 0');
    await expect(Runtime.create({ wrokers: 2 } as never)).rejects.toThrow('options.wrokers: unknown option');
    await expect(Runtime.create({ workers: 4, maxWorkers: 3 })).rejects.toThrow('options.maxWorkers: expected an integer from 4 (workers) to 512, got 3');
    await expect(Runtime.create({ workers: 1, maxWorkers: 'four' } as never)).rejects.toThrow('options.maxWorkers: expected an integer from 1 (workers) to 512, got the string "four"');
    await expect(Runtime.create({ maxworkers: 4 } as never)).rejects.toThrow('options.maxworkers: unknown option; did you mean maxWorkers?');
    await expect(Runtime.create({ slotBytes: 260 })).rejects.toThrow('options.slotBytes: expected a multiple of 8, got 260');
    await expect(Runtime.create({ faults: { oom: 2 } })).rejects.toThrow('faults.oom: expected a chance from 0 to 1, got 2');
    await expect(Runtime.create(null as never)).rejects.toThrow('options: expected an object, got null');
  });

  it('a Runtime is made by its factories only: new Runtime() from JavaScript is refused', () => {
    const Ctor = Runtime as unknown as new (o: unknown) => Runtime;
    expect(() => new Ctor({ workers: 2 })).toThrow('new Runtime(): use await Runtime.create(options), or Runtime.attach(handle) on another thread');
    expect(() => Runtime.attach({} as never)).toThrow('attach: expected a handle from rt.share(), got [object Object]');
  });

  it('nothing was submitted by any refusal', () => {
    expect(rt.stats().rings.submission.pushes).toBe(0);
    expect(rt.stats().outstanding).toBe(0);
  });
});
