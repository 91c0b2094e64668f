import { expect } from 'vitest';

/** One Chrome trace-event record, as syslet profile --trace and syslet record write them. */
export interface TraceEvent {
  ph: string;
  name: string;
  cat?: string;
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  id?: number;
  s?: string;
  args?: Record<string, unknown>;
}

/**
 * Every event is well-formed trace-event JSON: a phase among `phases`, a string name, integer pid
 * and tid (`pid` exactly, when given), a finite ts >= 0 on every event but metadata ('M'), and a
 * duration >= 0 on complete events ('X').
 */
export function expectWellFormed(events: readonly TraceEvent[], phases: readonly string[], pid?: number): void {
  for (const e of events) {
    const at = JSON.stringify(e);
    expect(phases, at).toContain(e.ph);
    expect(typeof e.name, at).toBe('string');
    expect(Number.isInteger(e.pid) && Number.isInteger(e.tid), at).toBe(true);
    if (pid !== undefined) expect(e.pid, at).toBe(pid);
    expect(e.ph === 'M' || (Number.isFinite(e.ts) && e.ts! >= 0), at).toBe(true);
    expect(e.ph !== 'X' || e.dur! >= 0, at).toBe(true);
  }
}
