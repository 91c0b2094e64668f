/**
 * Atom flags, with the names and values of the 2007 syslet patches (REFERENCE.md).
 *
 * How this runtime reads ASYNC and SYNC: an atom with SYSLET_SYNC may run inline on the submitting
 * thread; a chain whose first atom has it starts inline and moves to a worker at the first atom
 * without it (variables travel with it). SYSLET_ASYNC never runs inline (the default for atoms
 * without SYNC); setting both on one atom is refused at submission.
 */
export const SYSLET_ASYNC = 0x01;
export const SYSLET_SYNC = 0x02;
export const SYSLET_NO_COMPLETE = 0x04;
export const SYSLET_STOP_ON_NONZERO = 0x08;
export const SYSLET_STOP_ON_ZERO = 0x10;
export const SYSLET_STOP_ON_NEGATIVE = 0x20;
export const SYSLET_STOP_ON_NON_POSITIVE = 0x40;
export const SYSLET_SKIP_TO_NEXT_ON_STOP = 0x80;

export const SYSLET_FLAGS_MASK = 0xff;

export const SysletFlag = {
  ASYNC: SYSLET_ASYNC,
  SYNC: SYSLET_SYNC,
  NO_COMPLETE: SYSLET_NO_COMPLETE,
  STOP_ON_NONZERO: SYSLET_STOP_ON_NONZERO,
  STOP_ON_ZERO: SYSLET_STOP_ON_ZERO,
  STOP_ON_NEGATIVE: SYSLET_STOP_ON_NEGATIVE,
  STOP_ON_NON_POSITIVE: SYSLET_STOP_ON_NON_POSITIVE,
  SKIP_TO_NEXT_ON_STOP: SYSLET_SKIP_TO_NEXT_ON_STOP,
} as const;

export type SysletFlagName = keyof typeof SysletFlag;

/** Does a stop condition among `flags` hold for `result`? */
export function stopFires(flags: number, result: number): boolean {
  return (
    ((flags & SYSLET_STOP_ON_NONZERO) !== 0 && result !== 0) ||
    ((flags & SYSLET_STOP_ON_ZERO) !== 0 && result === 0) ||
    ((flags & SYSLET_STOP_ON_NEGATIVE) !== 0 && result < 0) ||
    ((flags & SYSLET_STOP_ON_NON_POSITIVE) !== 0 && result <= 0)
  );
}
