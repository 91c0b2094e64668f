/**
 * `syslet run FILE.json`: run a chain file (the JSON chain format) and print its completion.
 *
 * Chains are code, so a chain file runs under a policy: every path is confined to the current
 * directory (or `--root DIR`), checked as each atom runs; an atom that reaches outside gets -EACCES
 * as its result. `--allow op,op` limits the operations too. An invalid file is refused with the
 * library's own error (which atom, which argument, what was expected, what was got).
 *
 * Exit status: 0 when the chain ran to its end or stopped on a stop condition, 1 when it was
 * cancelled, timed out, ran out of steps or failed, 2 for a file or options it cannot run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ChainError, errnoName, OPS, Runtime, SysletStat, type Chain, type Completion, type OpName } from '../index.js';
import { parseCommandLine, UsageError, type Command } from './command.js';

export const RUN_HELP = `usage: syslet run [--root DIR] [--allow OP,...] [--var NAME=N]... [--timeout MS] [--json] FILE.json

Run a chain file and print its completion. Every path in the chain is confined to a root: the
current directory, or DIR with --root (which must exist and be a directory). Relative paths
resolve inside the root, as with the library's policy { root }: with --root sub, "hello.txt" is
sub/hello.txt. An atom whose path leads outside (by .., an absolute path or a symlink) gets -EACCES.
--root / lifts the confinement (relative paths then start at /).
  --root DIR       the root (default: the current directory)
  --allow OP,...   only these operations (others get -EACCES)
  --var NAME=N     an initial value for a variable (repeatable)
  --timeout MS     a deadline: the chain ends with -ETIME at the next atom boundary
  --json           print the completion as JSON
  -h, --help       this text
Exit status: 0 done or stopped, 1 cancelled, timed out, out of steps or failed, 2 bad file or options.
`;

export interface RunOptions {
  file: string;
  /** Absolute path of an existing directory: the policy's root (relative paths resolve in it). */
  root: string;
  allow: OpName[] | undefined;
  vars: Record<string, number>;
  timeoutMs: number | undefined;
  json: boolean;
}

const OP_NAMES = new Set<string>(OPS.map((op) => op.name));

/** Parse `syslet run`'s arguments; 'help' for --help. Throws UsageError('run', ...). */
export function parseRunArgs(args: readonly string[], cwd = process.cwd()): RunOptions | 'help' {
  const cl = parseCommandLine('run', args, {
    json: { type: 'boolean' },
    root: { type: 'string' },
    allow: { type: 'string' },
    var: { type: 'string' },
    timeout: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (cl.help) return 'help';
  const o: RunOptions = { file: '', root: cwd, allow: undefined, vars: {}, timeoutMs: undefined, json: false };
  for (const { name, value } of cl.options) {
    const v = value!;
    if (name === 'json') o.json = true;
    else if (name === 'root') o.root = checkRoot(path.resolve(cwd, v), v);
    else if (name === 'allow') {
      o.allow = v.split(',').filter((x) => x !== '').map((op) => {
        if (!OP_NAMES.has(op)) {
          throw new UsageError('run', `--allow: unknown operation "${op}"; expected some of ${[...OP_NAMES].join(', ')}`);
        }
        return op as OpName;
      });
    } else if (name === 'var') {
      const m = /^([^=]+)=(.*)$/.exec(v);
      const n = m === null ? Number.NaN : Number(m[2]);
      if (m === null || m[2] === '' || !Number.isFinite(n)) throw new UsageError('run', `--var: expected NAME=NUMBER, got "${v}"`);
      o.vars[m[1]!] = n;
    } else if (name === 'timeout') {
      const n = Number(v);
      if (v === '' || !(n >= 0)) throw new UsageError('run', `--timeout: expected milliseconds (>= 0), got "${v}"`);
      o.timeoutMs = n;
    }
  }
  if (cl.operands.length !== 1) throw new UsageError('run', `expected one chain file, got ${cl.operands.length}`);
  o.file = cl.operands[0]!;
  return o;
}

/** `abs` if it is an existing directory; a UsageError naming `given` otherwise. */
function checkRoot(abs: string, given: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError('run', `--root: cannot use "${given}": ${code === 'ENOENT' ? 'no such directory' : (e as Error).message}`);
  }
  if (!st.isDirectory()) throw new UsageError('run', `--root: "${given}" is not a directory`);
  return abs;
}

/** Read and parse a chain file; the errors name the file. */
export function readChainFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError('run', `${file}: cannot read: ${(e as Error).message}`, false);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError('run', `${file}: not JSON: ${(e as Error).message}`, false);
  }
}

export async function runChainFile(o: RunOptions, out: (s: string) => void): Promise<number> {
  const chain = readChainFile(o.file);
  // The library's rule: relative paths resolve inside the root (policy.cwd defaults to it).
  const rt = await Runtime.create({
    workers: 1,
    policy: { root: o.root, ...(o.allow === undefined ? {} : { allow: o.allow }) },
  });
  try {
    let c: Completion;
    try {
      const opts = { vars: o.vars, ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }) };
      c = await rt.run(chain as Chain, opts);
    } catch (e) {
      if (e instanceof ChainError || e instanceof TypeError) throw new UsageError('run', `${o.file}: ${e.message}`, false);
      throw e;
    }
    out(o.json ? `${JSON.stringify(toJson(c, chain), null, 2)}\n` : describeCompletion(c, chain));
    return c.status === 'done' || c.status === 'stopped' ? 0 : 1;
  } finally {
    await rt.close();
  }
}

function opAt(chain: unknown, atom: number): string {
  const atoms = (chain as { atoms?: { op?: unknown }[] }).atoms;
  const op = atoms?.[atom]?.op;
  return typeof op === 'string' ? op : '?';
}

function result(n: number): string {
  if (n >= 0) return String(n);
  const name = errnoName(-n);
  return name === undefined ? String(n) : `${n} (${name})`;
}

function valueText(v: unknown): string {
  if (v instanceof SysletStat) {
    const kind = v.isDirectory() ? 'directory' : v.isSymbolicLink() ? 'symlink' : v.isFile() ? 'file' : 'other';
    return `stat { ${kind}, size ${v.size}, mode 0o${v.mode.toString(8)}, ino ${v.ino}, nlink ${v.nlink}, mtime ${new Date(v.mtimeMs).toISOString()} }`;
  }
  return JSON.stringify(v);
}

/** The completion, for a person. */
export function describeCompletion(c: Completion, chain: unknown): string {
  const lines = [
    `status   ${c.status}`,
    `atom     ${c.atom} (${opAt(chain, c.atom)})`,
    `result   ${result(c.result)}`,
    `steps    ${c.steps}`,
  ];
  if (c.value !== undefined) lines.push(`value    ${valueText(c.value)}`);
  const vars = Object.entries(c.vars);
  vars.forEach(([k, v], i) => lines.push(`${i === 0 ? 'vars' : ''.padEnd(4)}     ${k} = ${result(v)}`));
  Object.entries(c.values).forEach(([k, v], i) => lines.push(`${i === 0 ? 'values' : ''.padEnd(6)}   ${k} = ${valueText(v)}`));
  Object.entries(c.buffers ?? {}).forEach(([k, b], i) => {
    let used = b.length;
    while (used > 0 && b[used - 1] === 0) used--;
    const shown = JSON.stringify(b.subarray(0, Math.min(used, 64)).toString('utf8'));
    const rest = used > 64 ? '...' : used < b.length ? ` then ${b.length - used} zero bytes` : '';
    lines.push(`${i === 0 ? 'buffers' : ''.padEnd(7)}  ${k} = ${b.length} bytes: ${shown}${rest}`);
  });
  return `${lines.join('\n')}\n`;
}

/** The completion as JSON data: stats as objects, buffers in base64. */
export function toJson(c: Completion, chain: unknown): Record<string, unknown> {
  const plain = (v: unknown): unknown => (v instanceof SysletStat ? { ...v } : v);
  return {
    status: c.status,
    atom: c.atom,
    op: opAt(chain, c.atom),
    result: c.result,
    steps: c.steps,
    ...(c.value === undefined ? {} : { value: plain(c.value) }),
    vars: c.vars,
    values: Object.fromEntries(Object.entries(c.values).map(([k, v]) => [k, plain(v)])),
    ...(c.buffers === undefined ? {} : { buffers: Object.fromEntries(Object.entries(c.buffers).map(([k, b]) => [k, b.toString('base64')])) }),
  };
}

export const RUN_COMMAND: Command = {
  usage: RUN_HELP,
  async run(argv, io) {
    const o = parseRunArgs(argv);
    if (o === 'help') return 'help';
    return runChainFile(o, io.out);
  },
};
