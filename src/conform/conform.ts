/**
 * `ohem-ref conform --port "<command>"`: drives another implementation that speaks the protocol
 * (docs/protocol.md: JSON lines on its stdin/stdout) through the golden vectors and the fast-check
 * properties, op by op, and reports every divergence from the reference, with what explains it.
 *
 * The parts, each a module of its own with no state beyond one call:
 * - session.ts: the port process (start-up, timeouts, restarts after a crash, hang or garbage);
 * - judge.ts: comparison under the tolerances and the precision models (pass, precision, fail);
 * - domain.ts, capabilities.ts: protocol 1.1's domain and a port's declared capabilities;
 * - attribution.ts, profiles.ts: the conventions that reproduce a divergence, and named sets of them;
 * - run.ts: golden cases, exploration, a shrink per failure signature, failure files;
 * - report.ts: the table, the failures, coverage, probes and the divergence summary;
 * - replay.ts: one failure file against a port.
 */
export * from './run.js';
export { formatReport, summarise, divergenceLines } from './report.js';
export { replay } from './replay.js';
export { PROFILES, findProfile, profileNames, type Profile } from '../protocol/profiles.js';
