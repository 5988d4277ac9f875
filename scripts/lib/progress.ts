/**
 * Console progress: a bar redrawn in place on a terminal, and duration formatting for ETAs and
 * summaries. Scripts fall back to plain periodic lines when the stream is not a terminal.
 *
 * @module
 */

/** Where the bar is drawn (default: `Deno.stderr`). */
export interface ProgressStream {
  /** Writes bytes synchronously. */
  writeSync(bytes: Uint8Array): number;
}

/** Options of {@linkcode ProgressBar}. */
export interface ProgressBarOptions {
  /** Output stream (default `Deno.stderr`). */
  stream?: ProgressStream;
  /** Characters of the bar itself (default 24). */
  width?: number;
  /** Least time between redraws in ms (default 100); the final state is always drawn. */
  minIntervalMs?: number;
  /** Terminal columns; longer lines are cut (default: from `Deno.consoleSize()`, else 120). */
  columns?: number;
}

/**
 * A one-line progress bar, `label [#####.....] 45% info`, redrawn in place with `\r`.
 *
 * @example
 * ```ts
 * import { ProgressBar } from "./progress.ts";
 * const bar = new ProgressBar();
 * for (let i = 1; i <= 10; i++) bar.update("epoch 1/1", i, 10, `loss ${(1 / i).toFixed(3)}`);
 * bar.clear();
 * ```
 */
export class ProgressBar {
  readonly #stream: ProgressStream;
  readonly #width: number;
  readonly #minIntervalMs: number;
  readonly #columns: number;
  readonly #encoder = new TextEncoder();
  #lastDraw = -Infinity;
  #visible = false;

  /** @param options Stream, bar width, redraw interval, terminal columns. */
  constructor(options: ProgressBarOptions = {}) {
    this.#stream = options.stream ?? Deno.stderr;
    this.#width = options.width ?? 24;
    this.#minIntervalMs = options.minIntervalMs ?? 100;
    this.#columns = options.columns ?? terminalColumns();
  }

  /**
   * Redraws the bar (at most every `minIntervalMs`, except when `done === total`).
   *
   * @param label Text before the bar.
   * @param done Units done.
   * @param total Units in all.
   * @param info Text after the percentage.
   */
  update(label: string, done: number, total: number, info: string): void {
    const now = performance.now();
    if (now - this.#lastDraw < this.#minIntervalMs && done < total) return;
    this.#lastDraw = now;
    const fraction = total > 0 ? Math.min(done / total, 1) : 0;
    const filled = Math.round(fraction * this.#width);
    const bar = `[${"#".repeat(filled)}${".".repeat(this.#width - filled)}]`;
    const line = `${label} ${bar} ${(100 * fraction).toFixed(0).padStart(3)}% ${info}`;
    this.#write(`\r\x1b[2K${line.slice(0, Math.max(this.#columns - 1, 20))}`);
    this.#visible = true;
  }

  /** Erases the bar so that ordinary lines can be printed. */
  clear(): void {
    if (!this.#visible) return;
    this.#write("\r\x1b[2K");
    this.#visible = false;
    this.#lastDraw = -Infinity;
  }

  #write(text: string): void {
    const bytes = this.#encoder.encode(text);
    for (let written = 0; written < bytes.length;) written += this.#stream.writeSync(bytes.subarray(written));
  }
}

function terminalColumns(): number {
  try {
    const { columns } = Deno.consoleSize();
    return columns >= 40 ? columns : 120; // pseudo-terminals may report 0
  } catch {
    return 120; // not a terminal
  }
}

/**
 * A duration for humans: `"42s"`, `"3m05s"`, `"1h02m"`.
 *
 * @param seconds The duration (negative or non-finite gives `"?"`).
 * @returns Short text.
 * @example
 * ```ts
 * import { formatDuration } from "./progress.ts";
 * console.log(formatDuration(185)); // "3m05s"
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
