/**
 * The recording room's door: what the tools built on the recorder use beyond the public API (the
 * `syslet profile` and `syslet record` commands, the `syslet/profile` preload's collector). Nothing
 * outside src/record imports the room's other files.
 *
 * Not a package export: startRecording and runtimeKey take a RecordHost, which holds the runtime's
 * shared state and client (internal objects a user cannot make; users record with `rt.record()`),
 * and THREAD_REPORTS_DIR and ThreadReport are the file protocol between a recorded thread and the
 * collector of the same package. What a user of `rt.record()` receives (Recording, ProfileResult and
 * the types it holds, the Span and Burst field tables that decode a PointTrace) is exported by the
 * package itself (src/index.ts), from here.
 */
export {
  Recording,
  startRecording,
  runtimeKey,
  THREAD_REPORTS_DIR,
  type RecordOptions,
  type RecordHost,
  type ThreadReport,
} from './recorder.js';
export { RingSampler } from './sampler.js';
export {
  Span,
  Burst,
  SWEEP_PARAMS,
  machineInfo,
  delta,
  type OpKind,
  type SweepParam,
  type PointConfig,
  type RingReport,
  type WorkerReport,
  type ProducerReport,
  type Samples,
  type PointResult,
  type RecordedRuntime,
  type PoolReport,
  type PoolChange,
  type RecordedProgram,
  type MachineInfo,
  type ProfileResult,
  type ThreadletSpan,
  type SubmitterTrace,
  type PointTrace,
} from './result.js';
