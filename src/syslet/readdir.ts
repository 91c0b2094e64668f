/**
 * readdirInOrder: a directory's names in its own order, shared by the interpreter's `readdir` atom
 * and `syslet du`'s inline walk, which must see exactly the names a chain sees.
 */
import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';

const UTF8 = { bufferSize: 1024 } as const;
const BYTES = { bufferSize: 1024, encoding: 'buffer' } as unknown as fs.OpenDirOptions;

/**
 * The names in directory `path`, in the directory's own order (readdir(3)'s, which
 * fs.readdirSync would sort away) and without `.` and `..`, exactly as the `readdir` atom returns
 * them: strings, and Buffers for names that are not valid UTF-8 (a file name is bytes; such a name
 * would not survive a JS string, and a lookup by the altered name fails; pass the Buffer on to
 * lstat or to an atom's path argument). `path` is a string or its bytes. Synchronous: blocks the
 * calling thread for the directory's reads. Throws what fs.opendirSync throws (ENOENT, ENOTDIR,
 * EACCES, ... as Node's errors with `code` and negative `errno`).
 */
export function readdirInOrder(path: string | Buffer): (string | Buffer)[] {
  const names: (string | Buffer)[] = [];
  let lossy = false;
  const dir = fs.opendirSync(path as string, UTF8);
  try {
    for (let e = dir.readSync(); e !== null; e = dir.readSync()) {
      if (e.name.includes('\ufffd')) lossy = true;
      names.push(e.name);
    }
  } finally {
    dir.closeSync();
  }
  if (!lossy) return names;
  // A name did not decode (or holds U+FFFD itself): read again as bytes, in the same order.
  const raw: (string | Buffer)[] = [];
  const bdir = fs.opendirSync(path as string, BYTES);
  try {
    for (let e = bdir.readSync(); e !== null; e = bdir.readSync()) {
      const b = e.name as unknown as Buffer;
      raw.push(isUtf8(b) ? b.toString('utf8') : b);
    }
  } finally {
    bdir.closeSync();
  }
  return raw;
}
