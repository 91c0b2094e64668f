/**
 * Reads and writes too large for one value: the file is opened by one atom, then read or written a
 * chunk at a time through an arena block (each chunk an atom that batches with whatever else is in
 * flight), then closed: as fs.promises.readFile and writeFile do with their own chunks. Loaded on
 * first use.
 */
import type { Stats } from 'node:fs';
import { Op } from '../syslet/ops.js';
import { Finish, FsCall, uvError, type Backend, type RawAnswer } from './call.js';

/** Bytes per chunk (Node's readFile reads 512 KiB at a time; writeFile writes 512 KiB). */
export const CHUNK_BYTES = 1024 * 1024;
/** Node refuses files larger than this (kIoMaxLength): ERR_FS_FILE_TOO_LARGE, from Node itself. */
const IO_MAX = 2 ** 31 - 1;

function atom(b: Backend, op: number, syscall: string, fill: (c: FsCall) => void): Promise<RawAnswer> {
  const c = new FsCall(op, Finish.RAW, '', syscall);
  fill(c);
  return new Promise<RawAnswer>((resolve, reject) => {
    c.resolve = resolve as (v: unknown) => void;
    c.reject = reject;
    b.submit(c);
  });
}

async function close(b: Backend, fd: number): Promise<number> {
  return (await atom(b, Op.CLOSE, 'close', (c) => (c.n1 = fd))).result;
}

/**
 * readFile(path) of a file larger than one value: open, fstat (the size, as Node reads it), read
 * chunks to the size (or to the end for a file without one), close. A failure after open has no
 * effect: Node then reads the file itself and its answer (and error) is the answer.
 */
export async function readFileChunked(
  b: Backend,
  path: string,
  flags: number,
  encoding: BufferEncoding | undefined,
  nodeRead: (() => Promise<unknown>) | undefined,
): Promise<unknown> {
  const open = await atom(b, Op.OPEN, 'open', (c) => {
    c.p1 = path;
    c.n1 = flags;
    c.n2 = 0o666;
  });
  if (open.result < 0) throw uvError(open.result, 'open', path);
  const fd = open.result;
  // A failure after open: Node reads it again and answers, unless the facade is confined (then
  // the step's own error).
  const viaNode = async (r: number, step: string): Promise<unknown> => {
    await close(b, fd);
    if (nodeRead === undefined) throw uvError(r, step);
    return nodeRead();
  };
  const st = await atom(b, Op.FSTAT, 'fstat', (c) => (c.n1 = fd));
  if (st.result < 0) return viaNode(st.result, 'fstat');
  const stats = st.value as Stats;
  const size = stats.isFile() ? stats.size : 0;
  if (size > IO_MAX) return viaNode(-27, 'read');
  const chunks: Buffer[] = [];
  let total = 0;
  let buf = Buffer.allocUnsafeSlow(size > 0 ? size : CHUNK_BYTES);
  for (;;) {
    const want = size > 0 ? Math.min(CHUNK_BYTES, size - total) : CHUNK_BYTES;
    if (want === 0) break;
    const into = size > 0 ? buf.subarray(total, total + want) : buf;
    const r = await atom(b, Op.READ, 'read', (c) => {
      c.n1 = fd;
      c.n2 = want;
      c.out = into;
    });
    if (r.result < 0) return viaNode(r.result, 'read');
    if (r.result === 0) break;
    total += r.result;
    if (size === 0) {
      chunks.push(buf.subarray(0, r.result));
      buf = Buffer.allocUnsafeSlow(CHUNK_BYTES);
    }
  }
  const c = await close(b, fd);
  if (c < 0) throw uvError(c, 'close');
  const data = size > 0 ? (total === size ? buf : buf.subarray(0, total)) : Buffer.concat(chunks, total);
  return encoding === undefined ? data : data.toString(encoding);
}

/**
 * writeFile / appendFile of data larger than one chunk: open (with the caller's flags and mode),
 * write chunk after chunk at the file position until all is written, close.
 */
export async function writeFileChunked(b: Backend, path: string, flags: number, mode: number, data: Uint8Array): Promise<void> {
  const open = await atom(b, Op.OPEN, 'open', (c) => {
    c.p1 = path;
    c.n1 = flags;
    c.n2 = mode;
  });
  if (open.result < 0) throw uvError(open.result, 'open', path);
  const fd = open.result;
  let done = 0;
  while (done < data.byteLength) {
    const chunk = data.subarray(done, Math.min(data.byteLength, done + CHUNK_BYTES));
    const r = await atom(b, Op.WRITE, 'write', (c) => {
      c.n1 = fd;
      c.n2 = chunk.byteLength;
      c.data = chunk;
    });
    if (r.result < 0) {
      await close(b, fd);
      throw uvError(r.result, 'write');
    }
    done += r.result;
  }
  const c = await close(b, fd);
  if (c < 0) throw uvError(c, 'close');
}
