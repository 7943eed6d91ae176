/**
 * `ohem-ref conform --replay FILE --port "<command>"`: replays one request — a failure file
 * written by conform, or a golden case file — against a port and judges it as conform did: with
 * the file's tolerances (else the op's), the op's precision models, and the conventions of the
 * profile the file was written under. Prints both sides, labelled, and the verdict.
 */
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { REGISTRY } from '../mining/registry.js';
import { decodeAnswer, type Tolerance } from './compare.js';
import { optionalOutputs } from './defaults.js';
import { judge } from './judge.js';
import { precisionBounds, referenceAnswer } from './reference.js';
import { attrsText } from './report.js';
import { PortSession, DEFAULT_STARTUP_MS } from './session.js';
import type { Req } from './suites.js';

const preview = (outputs: Record<string, unknown>): string[] =>
  Object.entries(outputs).map(([k, v]) => {
    const t = decodeAnswer(k, v);
    if (E.isLeft(t)) return `  ${k}: (does not decode: ${t.left.message})`;
    const d = Array.from(t.right.data);
    return `  ${k} ${t.right.dtype} [${t.right.shape.join(', ')}]: [${d.slice(0, 24).join(', ')}${d.length > 24 ? `, … (${d.length})` : ''}]`;
  });

/** Exit code 0 when the port agrees (pass or precision), 1 when it does not, 2 when the file cannot be replayed. */
export const replay = async (file: string, port: string, timeoutMs: number, out: (s: string) => void, cwd?: string, startupMs = DEFAULT_STARTUP_MS): Promise<number> => {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    out(`ohem-ref conform --replay: cannot read ${file}: ${(e as Error).message}\n`);
    return 2;
  }
  const request = j.request as Req | undefined;
  if (!request || typeof request.op !== 'string' || typeof request.inputs !== 'object' || request.inputs === null) {
    out(`ohem-ref conform --replay: ${file} holds no "request" with an op and inputs\n`);
    return 2;
  }
  const def = REGISTRY.get(request.op);
  if (!def) {
    out(`ohem-ref conform --replay: ${file} asks for op ${JSON.stringify(request.op)}, which the reference does not have\n`);
    return 2;
  }
  const req: Req = { op: request.op, attrs: request.attrs ?? {}, inputs: request.inputs };
  const conventions = (typeof j.conventions === 'object' && j.conventions !== null ? j.conventions : {}) as Record<string, unknown>;
  const tolerances = (j.tolerance ?? Object.fromEntries(def.outputs.map((o) => [o.name, o.tolerance]))) as Record<string, Tolerance>;
  const optional = (j.optional_outputs as string[] | undefined) ?? optionalOutputs(request.op);
  let reference: Record<string, unknown>;
  if (j.expected) reference = j.expected as Record<string, unknown>;
  else {
    const r = referenceAnswer(req, conventions);
    if ('error' in r) {
      out(`the reference refuses this request: ${r.error.code}: ${r.error.message}\n`);
      return 2;
    }
    reference = r.outputs;
  }
  const session = new PortSession(port, { timeoutMs, cwd, startupMs });
  try {
    const ans = await session.ask(req as unknown as Record<string, unknown>);
    const v = judge(ans, reference, { tolerances, precision: precisionBounds(def, req, conventions), optional });
    const lines = [`request: ${req.op} (${attrsText(req)})${Object.keys(conventions).length ? ` · reference conventions ${JSON.stringify(conventions)}` : ''}`, 'reference:', ...preview(reference)];
    if (ans.kind === 'outputs') lines.push('port:', ...preview(ans.outputs));
    else if (ans.kind === 'error') lines.push(`port: error ${ans.code}: ${ans.message}`);
    else lines.push(`port: ${ans.kind}: ${ans.detail}`);
    lines.push(
      v.verdict === 'fail'
        ? `DISAGREE — ${v.kind}: ${v.message}`
        : v.verdict === 'unsupported'
          ? 'the port answers unsupported'
          : v.verdict === 'precision'
            ? `agree within the float32 precision model (beyond the exact-reference tolerance): ${v.message}`
            : 'agree (within the tolerances)',
    );
    out(lines.join('\n') + '\n');
    return v.verdict === 'fail' ? 1 : 0;
  } finally {
    await session.close();
  }
};
