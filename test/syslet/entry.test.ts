/**
 * The request entry's owner (src/syslet/entry.ts) and the tables derived from one list (ops.ts).
 *
 * Completions are made in one place (completionMake) so that every completion has the same fields
 * in the same order: one hidden class for V8, whatever made it (a chain's reader, a request that
 * never reached a worker, a stuck worker's end, a threadlet's codec). These tests pin the order
 * on the completions a caller can get, so that a field added in one path and not another fails here.
 */
import { describe, expect, it } from 'vitest';
import { Runtime, chain, errno } from '../../dist/index.js';
import { completionMake, completionUnstarted, NO_VARS } from '../../dist/syslet/entry.js';
import { resultOfCode, resultOfError } from '../../dist/syslet/errno.js';
import { Op, OP_BY_NAME, OPS } from '../../dist/syslet/ops.js';

const FIELDS = ['id', 'status', 'atom', 'result', 'value', 'vars', 'values', 'buffers', 'steps', 'noComplete', 'valuesLost', 'udata'];

describe('completions have one shape', () => {
  it('made directly, unstarted, reaped from a worker, cancelled before an entry: the same fields in the same order', async () => {
    expect(Object.keys(completionMake(1, 'done', 0, 0, NO_VARS, 0, false, false))).toEqual(FIELDS);
    expect(Object.keys(completionUnstarted(2, 'failed', -errno.ENOMEM))).toEqual(FIELDS);
    const rt = await Runtime.create({ workers: 1, latencySample: 1 });
    try {
      const ran = await rt.submit(chain().stat('/', { into: 's' }).nop(7).build(), { udata: 'u' });
      expect(ran).toMatchObject({ status: 'done', result: 7, udata: 'u' });
      // Sampled: the reaper adds the timing after the shared fields.
      expect(Object.keys(ran)).toEqual([...FIELDS, 'timing']);
      const ac = new AbortController();
      ac.abort();
      const unstarted = await rt.submit(chain().nop(1).build(), { signal: ac.signal });
      expect(unstarted).toMatchObject({ status: 'cancelled', result: -errno.ECANCELED, steps: 0 });
      expect(Object.keys(unstarted)).toEqual(FIELDS);
    } finally {
      await rt.close();
    }
  });
});

describe('errors to results', () => {
  it('a code that names a Linux errno is its -errno, wherever it was thrown', () => {
    expect(resultOfCode(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(-errno.ENOENT);
    expect(resultOfError(Object.assign(new Error('x'), { code: 'EACCES' }))).toBe(-errno.EACCES);
  });

  it('a code that is not one (an inherited property name, a Node ERR_* code, none) is not taken for one', () => {
    // 'toString' and 'constructor' are in every object: `code in errno` took them for errnos (NaN).
    expect(resultOfCode({ code: 'toString' })).toBeUndefined();
    expect(resultOfCode({ code: 'constructor' })).toBeUndefined();
    expect(resultOfError({ code: 'constructor' })).toBe(-errno.EIO);
    expect(resultOfCode({ code: 'ERR_INVALID_ARG_TYPE' })).toBeUndefined();
    expect(resultOfError({ code: 'ERR_INVALID_ARG_TYPE' })).toBe(-errno.EINVAL);
    expect(resultOfCode('ENOENT')).toBeUndefined();
    expect(resultOfCode(null)).toBeUndefined();
  });
});

describe('operations are named once', () => {
  it('Op has one opcode per operation, in list order, named by the operation', () => {
    expect(Object.keys(Op)).toEqual(OPS.map((o) => o.name.toUpperCase()));
    OPS.forEach((o, code) => {
      expect(o.code).toBe(code);
      expect(OP_BY_NAME.get(o.name)).toBe(o);
    });
    expect(Op.NOP).toBe(0);
    expect(Op.STAT).toBe(8);
    expect(Op.TRUNCATE).toBe(OPS.length - 1);
    // Composites run under their parts' permission; the rest under their own.
    expect(OP_BY_NAME.get('stat_ns')!.needs).toEqual(['stat']);
    expect(OP_BY_NAME.get('stat')!.needs).toEqual(['stat']);
  });
});
