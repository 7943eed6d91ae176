/**
 * The port session of `conform`: one port process at a time, its start-up allowance, per-request
 * timeouts, and a restart after anything that leaves its answer stream in doubt (a crash, a hang,
 * a line that is not a JSON object, an answer with another id). Every outcome is a value.
 *
 * No state outlives a session: the hook that kills a port still running when Node exits is the
 * session's own, added when it starts a process and removed when it closes.
 */
import { spawnPort, type PortClient } from '../protocol/client.js';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_STARTUP_MS = 30_000;

/** What a port answered to one request. */
export type Answer =
  | { readonly kind: 'outputs'; readonly outputs: Record<string, unknown>; readonly response: Record<string, unknown> }
  | { readonly kind: 'error'; readonly code: string; readonly message: string; readonly response: Record<string, unknown> }
  | { readonly kind: 'crash'; readonly detail: string }
  | { readonly kind: 'hang'; readonly detail: string }
  | { readonly kind: 'garbage'; readonly detail: string }
  | { readonly kind: 'wrong id'; readonly detail: string; readonly response: Record<string, unknown> };

/** The outcomes after which the port is restarted. */
export const FATAL: ReadonlySet<string> = new Set(['crash', 'hang', 'garbage', 'wrong id']);
export const isFatal = (a: Answer): boolean => FATAL.has(a.kind);

const lastLine = (s: string): string => s.trim().split('\n').slice(-1)[0]?.slice(0, 300) ?? '';

export interface SessionOptions {
  readonly timeoutMs?: number;
  readonly startupMs?: number;
  readonly cwd?: string;
}

export class PortSession {
  private client: PortClient | null = null;
  /** Processes started so far (the first start included). */
  starts = 0;
  private nextId = 0;
  private fresh = false;
  private readonly timeoutMs: number;
  private readonly startupMs: number;
  private readonly killOnExit = () => this.client?.kill();

  constructor(
    private readonly command: string,
    private readonly options: SessionOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.startupMs = options.startupMs ?? DEFAULT_STARTUP_MS;
  }

  private async discard(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (!c) return;
    c.kill();
    await c.close(500);
  }

  /** Sends one request (an id is added); starts the port first if it is not running. */
  async ask(req: Readonly<Record<string, unknown>>): Promise<Answer> {
    if (this.client && !this.client.alive()) await this.discard();
    if (!this.client) {
      this.client = spawnPort(this.command, { timeoutMs: this.timeoutMs, processGroup: true, cwd: this.options.cwd });
      if (this.starts === 0) process.on('exit', this.killOnExit);
      this.starts++;
      this.fresh = true;
    }
    // A fresh port gets its start-up time on a describe (any answer will do), so that a port
    // that hangs on one op costs one timeout per hang, not one start-up allowance.
    if (this.fresh && req.op !== 'describe') {
      const probe = await this.send({ op: 'describe' }, this.timeoutMs + this.startupMs);
      if (probe.kind !== 'outputs' && probe.kind !== 'error')
        return { ...probe, detail: `after a (re)start, the port did not answer describe: ${probe.detail}` } as Answer;
    }
    return this.send(req, this.fresh ? this.timeoutMs + this.startupMs : this.timeoutMs);
  }

  private async send(req: Readonly<Record<string, unknown>>, ms: number): Promise<Answer> {
    this.fresh = false;
    if (!this.client) return { kind: 'crash', detail: 'the port is not running' };
    const id = `c${++this.nextId}`;
    const o = await this.client.request({ ...req, id }, ms);
    switch (o.kind) {
      case 'timeout':
        await this.discard();
        return { kind: 'hang', detail: `no answer within ${o.ms} ms${o.ms > this.timeoutMs ? ' (its start-up included)' : ''}; the port was killed` };
      case 'exited': {
        await this.discard();
        const how = o.signal ? `signal ${o.signal}` : `exit code ${o.code}`;
        const err = lastLine(o.stderr);
        return { kind: 'crash', detail: `the port exited (${how})${err ? `; stderr: ${err}` : ''}` };
      }
      case 'garbage':
        await this.discard();
        return { kind: 'garbage', detail: `answered ${JSON.stringify(o.line.slice(0, 120))}, not a JSON object` };
      case 'ok': {
        const r = o.response;
        const isError = typeof r.error === 'object' && r.error !== null;
        if (r.id !== id && !(isError && r.id === null)) {
          await this.discard();
          return { kind: 'wrong id', detail: `answered id ${JSON.stringify(r.id)} to request ${JSON.stringify(id)}`, response: r };
        }
        if (isError) {
          const e = r.error as Record<string, unknown>;
          return { kind: 'error', code: String(e.code), message: String(e.message ?? ''), response: r };
        }
        if (typeof r.outputs === 'object' && r.outputs !== null && !Array.isArray(r.outputs))
          return { kind: 'outputs', outputs: r.outputs as Record<string, unknown>, response: r };
        await this.discard();
        return { kind: 'garbage', detail: 'answered a JSON object with neither "outputs" nor "error"' };
      }
    }
  }

  /** Kills the port now (an interrupted run); the request in flight resolves as a crash. */
  killNow(): void {
    this.client?.kill();
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    process.removeListener('exit', this.killOnExit);
    if (!c) return;
    await c.close(2000);
  }
}
