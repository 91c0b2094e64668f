// The piscina baseline's task: the same work as one syslet chain, one task per operation.
import fs from 'node:fs';

const buf = Buffer.alloc(65536);

export default function task(t: { op: 'stat' | 'read' | 'nop'; path: string }): number {
  if (t.op === 'stat') return fs.statSync(t.path).size;
  if (t.op === 'read') {
    const fd = fs.openSync(t.path, 'r');
    try {
      return fs.readSync(fd, buf, 0, buf.length, null);
    } finally {
      fs.closeSync(fd);
    }
  }
  return 0;
}
