/**
 * A client for anything that speaks PROTOCOL.md over a child process's stdin/stdout: the Python
 * oracle, `ohem-ref serve`, or a port under test. Requests are answered in order; a port that
 * hangs, dies or writes garbage yields an outcome value, never a thrown error or a hang.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';

export type Outcome =
  | { readonly kind: 'ok'; readonly response: Record<string, unknown> }
  | { readonly kind: 'timeout'; readonly ms: number }
  | { readonly kind: 'exited'; readonly code: number | null; readonly signal: string | null; readonly stderr: string }
  | { readonly kind: 'garbage'; readonly line: string };

export interface PortClient {
  /** `timeoutMs` overrides the client's timeout for this request (e.g. a port's first, which includes its start-up). */
  request(req: Record<string, unknown>, timeoutMs?: number): Promise<Outcome>;
  /** Sends one raw line (it need not be JSON: for testing a port's handling of garbage). */
  requestLine(line: string, timeoutMs?: number): Promise<Outcome>;
  /** Closes stdin and waits for the process to end (kills it after `graceMs`). */
  close(graceMs?: number): Promise<void>;
  /** Kills the process now (its whole process group when spawned with `processGroup`). */
  kill(): void;
  readonly alive: () => boolean;
  readonly command: string;
}

export interface SpawnOptions {
  readonly timeoutMs?: number;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Run the command in its own process group and kill the whole group on a timeout or `kill()`,
   * so that a hung grandchild of the shell (`sh -c "python3 port.py"`) dies too (POSIX only).
   */
  readonly processGroup?: boolean;
}

const STDERR_KEEP = 8192;

export const spawnPort = (command: string, options: SpawnOptions = {}): PortClient => {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const child: ChildProcess = spawn(command, {
    shell: true,
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: options.processGroup === true && process.platform !== 'win32',
  });
  const kill = (): void => {
    try {
      if (options.processGroup && process.platform !== 'win32' && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      child.kill('SIGKILL'); // the group is already gone
    }
  };
  let stderr = '';
  let exited: { code: number | null; signal: string | null } | null = null;
  const pending: Array<(o: Outcome) => void> = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-STDERR_KEEP);
  });
  child.stdin!.on('error', () => undefined); // EPIPE after a crash: reported through 'exit'
  const rl = readline.createInterface({ input: child.stdout!, crlfDelay: Infinity, terminal: false });
  rl.on('line', (line) => {
    const resolve = pending.shift();
    if (!resolve) return; // an unsolicited line: ignored
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      resolve({ kind: 'garbage', line: line.slice(0, 500) });
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) resolve({ kind: 'garbage', line: line.slice(0, 500) });
    else resolve({ kind: 'ok', response: parsed as Record<string, unknown> });
  });
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
    exited = { code, signal };
    // Give readline a tick to deliver lines written just before the exit.
    setImmediate(() => {
      while (pending.length) pending.shift()!({ kind: 'exited', code, signal, stderr });
    });
  };
  child.on('exit', onExit);
  child.on('error', (e) => {
    stderr += `\n${e.message}`;
    if (!exited) onExit(null, null);
  });

  const requestLine = (line: string, ms: number = timeoutMs): Promise<Outcome> =>
    new Promise((resolve) => {
      if (exited) {
        resolve({ kind: 'exited', code: exited.code, signal: exited.signal, stderr });
        return;
      }
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        // The answer stream is now out of step: this port must be restarted.
        kill();
        resolve({ kind: 'timeout', ms });
      }, ms);
      pending.push((o) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(o);
      });
      child.stdin!.write(line.replace(/\n/g, ' ') + '\n');
    });
  const request = (req: Record<string, unknown>, ms?: number): Promise<Outcome> => requestLine(JSON.stringify(req), ms);

  const close = (graceMs = 2000): Promise<void> =>
    new Promise((resolve) => {
      if (exited) return resolve();
      const t = setTimeout(kill, graceMs);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.stdin!.end();
    });

  return { request, requestLine, close, kill, alive: () => exited === null, command };
};
