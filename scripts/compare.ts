/**
 * Compares training runs: one SVG with every run's test accuracy and loss curves, and a Markdown
 * table (model, best top-1, epoch time, images/s) printed to stdout.
 *
 * ```sh
 * deno task compare runs/epsanet50-digits runs/resnet50-digits --out compare.svg --markdown compare.md
 * ```
 *
 * @example
 * ```ts
 * import { compareRuns } from "./compare.ts";
 * const { markdown, svg } = await compareRuns(["runs/epsanet50-digits", "runs/resnet50-digits"]);
 * console.log(markdown);
 * ```
 *
 * @module
 */

import { writeFileAtomic } from "../mod.ts";
import { checkOverwrite, COMPARE_MARKER, withMarker } from "./lib/own_output.ts";
import { errorLine, parseFlags, runMain, UsageError } from "./lib/args.ts";
import { type EpochRecord, epochRecords, parseMetrics } from "./lib/metrics.ts";
import { type Chart, PALETTE, renderCharts, type Series } from "./lib/plot.ts";
import { runPaths } from "./lib/run_folder.ts";

/**
 * One run, summarised.
 *
 * @example
 * ```ts
 * import type { RunSummary } from "./compare.ts";
 * const line = (r: RunSummary): string => `${r.name}: ${r.best?.top1}`;
 * ```
 */
export interface RunSummary {
  /** The run folder as given. */
  name: string;
  /** Network (from config.json; "?" when it is missing). */
  model: string;
  /** Dataset (from config.json; "?" when it is missing). */
  dataset: string;
  /** Its epoch records. */
  epochs: EpochRecord[];
  /** Best test top-1 (a fraction) and its epoch, or null before the first epoch ends. */
  best: { top1: number; epoch: number } | null;
  /** Test top-1 and top-5 of the last epoch, or null. */
  final: { top1: number; top5: number } | null;
  /** Mean wall time per epoch in seconds, or null. */
  epochSeconds: number | null;
  /** Mean training images per second, or null. */
  imagesPerSecond: number | null;
}

/**
 * What {@linkcode compareRuns} produces.
 *
 * @example
 * ```ts
 * import type { Comparison } from "./compare.ts";
 * const save = (c: Comparison): Promise<void> => Deno.writeTextFile("compare.svg", c.svg);
 * ```
 */
export interface Comparison {
  /** The runs, in the order given. */
  runs: RunSummary[];
  /** The curves (starts with `<svg`). */
  svg: string;
  /** The table. */
  markdown: string;
}

/**
 * The `--help` text.
 *
 * @example
 * ```ts
 * import { COMPARE_USAGE } from "./compare.ts";
 * console.log(COMPARE_USAGE);
 * ```
 */
export const COMPARE_USAGE: string =
  `Usage: deno task compare RUN_DIR... [--out FILE.svg] [--markdown FILE.md] [--force]

Compares training runs (folders written by train.ts): one SVG with each run's test top-1 and loss
curves, and a Markdown table (run, model, best top-1, epoch time, images/s) printed to stdout.

  --out FILE.svg      where the curves go (default compare.svg)
  --markdown FILE.md  also write the table to this file
  --force             overwrite --out / --markdown even when they exist and were not written by
                      compare (its files carry a marker comment; those are always overwritten)
  --help              show this help`;

const FLAGS = {
  out: { type: "string" },
  markdown: { type: "string" },
  force: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Reads a run folder's config.json and metrics.jsonl.
 *
 * @param dir The run folder.
 * @returns The summary.
 * @throws An Error (one line) when the folder or its metrics cannot be read or are damaged.
 * @example
 * ```ts
 * import { readRun } from "./compare.ts";
 * const run = await readRun("runs/epsanet50-digits");
 * console.log(run.best?.top1);
 * ```
 */
export async function readRun(dir: string): Promise<RunSummary> {
  const paths = runPaths(dir);
  let text: string;
  try {
    text = await Deno.readTextFile(paths.metrics);
  } catch (error) {
    throw new Error(`${dir} is not a training run: cannot read ${paths.metrics} (${errorLine(error)})`);
  }
  const epochs = epochRecords(parseMetrics(text, paths.metrics));
  let config: Record<string, unknown> = {};
  try {
    config = JSON.parse(await Deno.readTextFile(paths.config));
  } catch {
    // An older or partial run: the table shows "?" for its model and dataset.
  }
  const mean = (values: number[]): number | null =>
    values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
  let best: RunSummary["best"] = null;
  for (const e of epochs) if (!best || e.testTop1 > best.top1) best = { top1: e.testTop1, epoch: e.epoch };
  const last = epochs.at(-1);
  return {
    name: dir.replace(/[\\/]+$/, "") || dir,
    model: typeof config.model === "string" ? config.model : "?",
    dataset: typeof config.dataset === "string" ? config.dataset : "?",
    epochs,
    best,
    final: last ? { top1: last.testTop1, top5: last.testTop5 } : null,
    epochSeconds: mean(epochs.map((e) => e.seconds)),
    imagesPerSecond: mean(epochs.map((e) => e.trainImagesPerSecond)),
  };
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

/**
 * The Markdown table of runs.
 *
 * @param runs The summaries.
 * @returns A GitHub-flavoured Markdown table.
 * @example
 * ```ts
 * import { markdownTable } from "./compare.ts";
 * console.log(markdownTable([]));
 * ```
 */
export function markdownTable(runs: readonly RunSummary[]): string {
  const pct = (v: number | undefined): string => v === undefined ? "-" : `${(100 * v).toFixed(2)}%`;
  const rows = runs.map((r) => [
    escapeCell(r.name),
    escapeCell(r.model),
    escapeCell(r.dataset),
    String(r.epochs.length),
    r.best ? `${pct(r.best.top1)} (epoch ${r.best.epoch})` : "-",
    pct(r.final?.top1),
    pct(r.final?.top5),
    r.epochSeconds === null ? "-" : `${r.epochSeconds.toFixed(1)} s`,
    r.imagesPerSecond === null ? "-" : r.imagesPerSecond.toFixed(1),
  ]);
  const header = [
    "run",
    "model",
    "dataset",
    "epochs",
    "best top-1",
    "final top-1",
    "final top-5",
    "epoch time",
    "images/s",
  ];
  const align = ["---", "---", "---", "---:", "---:", "---:", "---:", "---:", "---:"];
  return [header, align, ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

/**
 * The comparison charts: test top-1 per run, and test (solid) and train (dashed) loss per run.
 *
 * @param runs The summaries.
 * @returns Two charts for {@linkcode renderCharts}.
 * @example
 * ```ts
 * import { comparisonCharts } from "./compare.ts";
 * console.log(comparisonCharts([]).length); // 2
 * ```
 */
export function comparisonCharts(runs: readonly RunSummary[]): Chart[] {
  const color = (i: number): string => PALETTE[i % PALETTE.length];
  const accuracy: Series[] = runs.map((r, i) => ({
    name: r.name,
    color: color(i),
    points: r.epochs.map((e) => [e.epoch, 100 * e.testTop1]),
    markers: true,
  }));
  const loss: Series[] = runs.flatMap((r, i): Series[] => [
    { name: r.name, color: color(i), points: r.epochs.map((e) => [e.epoch, e.testLoss]), markers: true },
    {
      name: `${r.name} train`,
      color: color(i),
      points: r.epochs.map((e) => [e.epoch, e.trainLoss]),
      dashed: true,
      hideInLegend: true,
    },
  ]);
  // Style keys: the run colours say which run, the stroke says which split.
  loss.push(
    { name: "test (solid)", color: "#666", points: [] },
    { name: "train (dashed)", color: "#666", points: [], dashed: true },
  );
  return [
    { title: "Test top-1 accuracy", xLabel: "epoch", yLabel: "accuracy (%)", series: accuracy, xMin: 0, yMax: 100 },
    { title: "Loss", xLabel: "epoch", yLabel: "cross entropy", series: loss, xMin: 0, yMin: 0 },
  ];
}

/**
 * Reads run folders and builds the comparison.
 *
 * @param dirs Run folders (at least one).
 * @returns The summaries, the SVG and the Markdown table.
 * @throws A {@linkcode UsageError} for an empty list; an Error when a run cannot be read.
 * @example
 * ```ts
 * import { compareRuns } from "./compare.ts";
 * const { svg } = await compareRuns(["runs/epsanet50-digits"]);
 * ```
 */
export async function compareRuns(dirs: readonly string[]): Promise<Comparison> {
  if (dirs.length === 0) throw new UsageError("give at least one run folder (see --help)");
  const runs = await Promise.all(dirs.map(readRun));
  const datasets = [...new Set(runs.map((r) => r.dataset))].join(", ");
  return {
    runs,
    svg: renderCharts(comparisonCharts(runs), { title: `Runs compared (${datasets})` }),
    markdown: markdownTable(runs),
  };
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS, { positionals: true });
  if (values.help) {
    console.log(COMPARE_USAGE);
    return 0;
  }
  for (const flag of ["out", "markdown"] as const) {
    if (values[flag] === "") throw new UsageError(`--${flag} must not be empty`);
  }
  const out = (values.out as string | undefined) ?? "compare.svg";
  const markdownPath = values.markdown as string | undefined;
  const force = values.force === true;
  await checkOverwrite(out, "--out", COMPARE_MARKER, force);
  if (markdownPath) await checkOverwrite(markdownPath, "--markdown", COMPARE_MARKER, force);
  const { svg, markdown } = await compareRuns(positionals);
  await writeFileAtomic(out, withMarker(svg, COMPARE_MARKER));
  if (markdownPath) await writeFileAtomic(markdownPath, withMarker(markdown, COMPARE_MARKER) + "\n");
  console.log(markdown);
  console.error(`wrote ${out}${markdownPath ? ` and ${markdownPath}` : ""}`);
  return 0;
}

if (import.meta.main) await runMain(main);
