/**
 * What every `syslet` command shares with the process it runs in: temp dirs and a terminal line
 * that are put right on any exit (SIGINT 130, SIGTERM 143, a failed write, a normal end), and
 * standard output that fails like GNU coreutils' close_stdout:
 *
 *   reader went away (EPIPE)         quietly, exit 141 (128 + SIGPIPE, what a shell sees of du)
 *   a failed write (ENOSPC, EIO...)  `PREFIX: write error`, exit 1 (GNU drops the errno text:
 *                                    the error was sticky on the stream before fclose)
 *
 * A closed stdout (`>&-`), which GNU reports as `write error: Bad file descriptor`, cannot be told
 * apart in Node: Node opens /dev/null on a closed fd 0-2 at start-up (O_RDWR), exactly as
 * child_process opens it for `stdio: 'ignore'`, so the command's output goes to /dev/null and it
 * exits 0. (Reading /proc/self/fdinfo/1 cannot tell the two: guessing would fail correct runs.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const cleanups = new Set<() => void>();

/** Run `fn` (synchronous) on any exit; returns a function that unregisters it. */
export function atExit(fn: () => void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Run and forget every registered cleanup (each at most once; one failing does not stop the rest). */
export function runCleanups(): void {
  for (const fn of [...cleanups]) {
    cleanups.delete(fn);
    try {
      fn();
    } catch {
      // Best effort: the process is on its way out.
    }
  }
}

/** Clean up, then end the process now with `code`. */
export function exitNow(code: number): never {
  runCleanups();
  process.exit(code);
}

/**
 * A fresh directory under the OS temp dir (`PREFIX-XXXXXX`), removed by remove() or on any exit,
 * whichever comes first.
 */
export function makeTempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const remove = (): void => {
    unregister();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const unregister = atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, remove };
}

let signalsInstalled = false;
let foreground: ((signal: NodeJS.Signals) => void) | undefined;

/**
 * SIGINT and SIGTERM: clean up and exit 130 or 143, as a shell reports a command they killed.
 * While a foreground child runs (foregroundChild), the command waits for it instead: SIGTERM is
 * passed on to it, SIGINT left to it (Ctrl-C reaches the terminal's whole process group).
 */
export function installSignalHandlers(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  process.on('SIGINT', () => (foreground === undefined ? exitNow(130) : foreground('SIGINT')));
  process.on('SIGTERM', () => (foreground === undefined ? exitNow(143) : foreground('SIGTERM')));
}

/** A child the command waits for (syslet record's program): signals go its way until `done`. */
export function foregroundChild(kill: (signal: NodeJS.Signals) => void): { done: () => void } {
  foreground = (signal) => {
    if (signal === 'SIGTERM') kill(signal);
  };
  return { done: () => (foreground = undefined) };
}

/** Standard output and error of this process for a command whose messages start with `prefix`. */
export interface ProcessOutput {
  out: (s: string | Uint8Array) => void;
  err: (s: string) => void;
}

export function processOutput(prefix: string): ProcessOutput {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') exitNow(141);
    process.stderr.write(`${prefix}: write error\n`);
    exitNow(1);
  });
  return {
    out: (s) => {
      if (s.length > 0) process.stdout.write(s);
    },
    err: (s) => process.stderr.write(s),
  };
}
