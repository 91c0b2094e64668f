/**
 * How many bytes a chain takes in a request slot, for callers that size their chains against the
 * runtime's `slotBytes` option before submitting (a chain that does not fit is refused with a
 * ChainError at submit). The figures are those of the validator's layout (validate.ts chainLayout:
 * the entry's header words, one atom-table word per atom, each atom's header and its arguments, the
 * float literals, the variables, the declared buffers, the strings, padding to 8 bytes).
 */
import type { Atom, Chain } from './chain.js';
import { ChainError, chainLayout } from './validate.js';
import { OP_BY_NAME, type OpSpec } from './ops.js';
import { ARG_WORDS, ATOM_HEADER_WORDS, DataWord, VARIABLE_BYTES } from './table.js';

const WORD = 4;

/**
 * Bytes of a chain's encoded form that do not depend on its atoms, at most: the header words before
 * the atom table (64 bytes) and the padding of its two 8-byte-aligned parts (at most 4 + 7).
 */
export const CHAIN_BASE_BYTES = DataWord.ATOM_TABLE * WORD + 4 + 7;

/** `i`: the atom's index in its chain, or -1 for a lone atom. */
function opOf(atom: Atom, i: number): OpSpec {
  const op = OP_BY_NAME.get(atom.op);
  if (op !== undefined) return op;
  const what = `unknown operation ${JSON.stringify(atom.op)}`;
  throw i < 0 ? new ChainError(`atom: ${what}`) : new ChainError(`chain.atoms[${i}]: ${what}`, i);
}

/** A number argument that is not an int32 travels as a Float64 literal (8 bytes). */
function isLiteral(x: unknown): boolean {
  return typeof x === 'number' && ((x | 0) !== x || Object.is(x, -0));
}

/** UTF-8 bytes of a path argument (a string, or its bytes as a Buffer), else 0. */
function pathBytes(x: unknown): number {
  if (typeof x === 'string') return Buffer.byteLength(x, 'utf8');
  if (x instanceof Uint8Array) return x.byteLength;
  return 0;
}

/** What one atom takes: its header and argument words, its Float64 literals, its string bytes. */
interface AtomParts {
  words: number;
  lits: number;
  strBytes: number;
}

function atomParts(atom: Atom, i: number): AtomParts {
  const op = opOf(atom, i);
  const parts = { words: ATOM_HEADER_WORDS + ARG_WORDS * op.params.length, lits: 0, strBytes: 0 };
  const args = atom.args ?? [];
  for (let k = 0; k < op.params.length && k < args.length; k++) {
    const x = args[k];
    if (op.params[k]!.kind === 'path') parts.strBytes += pathBytes(x);
    else if (isLiteral(x)) parts.lits++;
  }
  return parts;
}

/**
 * The bytes `atom` adds to the encoded form of a chain: its word in the atom table, its header, 3
 * words per parameter of its operation (given or left out), the UTF-8 bytes of its path arguments
 * (a Buffer path: its length), 8 bytes for each number argument that is not an int32 (a Float64
 * literal), and 12 bytes for its `into` variable. A chain's `encodedBytes` is at most
 * `CHAIN_BASE_BYTES` + the sum of this over its atoms + 12 per `chain.vars` entry + 8 per declared
 * buffer (a variable several atoms assign is stored once), so a caller can fill a chain atom by atom
 * and stop before `slotBytes`. The atom is not validated; an unknown `op` throws a ChainError.
 */
export function atomEncodedBytes(atom: Atom): number {
  const p = atomParts(atom, -1);
  // Its word in the atom table, then its own words.
  return WORD * (1 + p.words) + 8 * p.lits + p.strBytes + (atom.into !== undefined ? VARIABLE_BYTES : 0);
}

/**
 * The exact bytes `chain` encodes to in a request slot (what `rt.submit` compares with the runtime's
 * `slotBytes` option; `rt.prepare(chain).bytes` says the same after validating), for a chain the
 * validator accepts. Granted descriptors (submit option `grant.fds`) come on top. The chain is not
 * validated; an unknown `op` throws a ChainError.
 */
export function encodedBytes(chain: Chain): number {
  const vars = new Set<string>(chain.vars !== undefined ? Object.keys(chain.vars) : []);
  let atomWords = 0;
  let lits = 0;
  let strBytes = 0;
  chain.atoms.forEach((atom, i) => {
    const p = atomParts(atom, i);
    atomWords += p.words;
    lits += p.lits;
    strBytes += p.strBytes;
    if (atom.into !== undefined) vars.add(atom.into);
  });
  const nbufs = chain.buffers !== undefined ? Object.keys(chain.buffers).length : 0;
  return chainLayout(chain.atoms.length, atomWords, lits, vars.size, nbufs, strBytes).valuesAt;
}
