/**
 * A dependency-free progress bar for stderr: on a TTY one line redrawn with `\r` (at most ~10 times
 * a second); otherwise (a pipe, a CI log) a plain line every `every` iterations and at the end.
 * The clock is injected so the formatting is testable.
 */

export interface ProgressSink {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(s: string): unknown;
}

export interface Progress {
  /** Iteration `i` of the total is done; `loss` is the smoothed loss shown. */
  tick(i: number, loss: number, note?: string): void;
  /** A transient status (e.g. "evaluating") shown until the next tick. */
  status(note: string): void;
  /** Ends the bar with its final line. */
  done(summary?: string): void;
  /** A line of its own above the bar (on a TTY the bar is redrawn below it). */
  log(line: string): void;
}

const fmtTime = (s: number): string => (s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${Math.round(s % 60).toString().padStart(2, '0')}s`);

/** The bar's text for iteration i of n (pure). */
export const barLine = (label: string, i: number, n: number, loss: number, itPerSec: number, elapsed: number, width = 24, note = ''): string => {
  const frac = n > 0 ? Math.min(1, i / n) : 1;
  const full = Math.floor(frac * width);
  const partial = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][Math.floor((frac * width - full) * 8)] ?? '';
  const bar = '█'.repeat(full) + partial + ' '.repeat(Math.max(0, width - full - (partial ? 1 : 0)));
  const eta = itPerSec > 0 && i < n ? ` eta ${fmtTime((n - i) / itPerSec)}` : '';
  const lossTxt = Number.isNaN(loss) ? '' : `  loss ${Number.isFinite(loss) ? loss.toFixed(4) : '—'}`;
  return `${label} │${bar}│ ${String(i).padStart(String(n).length)}/${n}${lossTxt}  ${itPerSec.toFixed(1)} it/s  ${fmtTime(elapsed)}${eta}${note ? `  ${note}` : ''}`;
};

export const makeProgress = (sink: ProgressSink, label: string, total: number, now: () => number, every = Math.max(1, Math.round(total / 10))): Progress => {
  const t0 = now();
  let lastDraw = -Infinity;
  let lastLine = '';
  let last = { i: 0, loss: NaN };
  const rate = (i: number) => {
    const dt = (now() - t0) / 1000;
    return { dt, r: dt > 0 ? i / dt : 0 };
  };
  const draw = (line: string) => {
    const cols = sink.columns ?? 120;
    const text = line.length > cols - 1 ? line.slice(0, cols - 1) : line;
    sink.write(`\r${text}${' '.repeat(Math.max(0, lastLine.length - text.length))}`);
    lastLine = text;
  };
  return {
    tick(i, loss, note = '') {
      last = { i, loss };
      const { dt, r } = rate(i);
      if (sink.isTTY) {
        const t = now();
        if (t - lastDraw >= 100 || i === total) {
          lastDraw = t;
          draw(barLine(label, i, total, loss, r, dt, 24, note));
        }
      } else if (i % every === 0 && i !== total) sink.write(`${barLine(label, i, total, loss, r, dt, 24, note)}\n`);
    },
    status(note) {
      const { dt, r } = rate(last.i);
      if (sink.isTTY) draw(barLine(label, last.i, total, last.loss, r, dt, 24, note));
    },
    log(line) {
      if (sink.isTTY) {
        sink.write(`\r${line}${' '.repeat(Math.max(0, lastLine.length - line.length))}\n`);
        const redraw = lastLine;
        lastLine = '';
        if (redraw) draw(redraw);
      } else sink.write(`${line}\n`);
    },
    done(summary = '') {
      const { dt, r } = rate(last.i);
      const line = barLine(label, last.i, total, last.loss, r, dt, 24, summary);
      if (sink.isTTY) {
        draw(line);
        sink.write('\n');
      } else sink.write(`${line}\n`);
    },
  };
};
