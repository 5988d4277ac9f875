/**
 * Evaluates a checkpoint written by train.ts on a test split: loss, top-1, top-5, per-class
 * accuracy and a confusion matrix, as tables or as one JSON object.
 *
 * ```sh
 * deno task eval --checkpoint runs/epsanet50-digits/best.safetensors
 * deno task eval --checkpoint runs/epsanet50-digits --json --limit-test 500
 * ```
 *
 * @example
 * ```ts
 * import { evaluateCheckpoint } from "./eval.ts";
 * const report = await evaluateCheckpoint({ checkpoint: "runs/epsanet50-digits/best.safetensors", limit: 100 });
 * console.log(report.top1);
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { createModel, defaultDevice, evaluate, perClassAccuracy, readSafetensors, setDefaultDevice } from "../mod.ts";
import { BatchLoader, DATASET_NAMES, type DatasetName, isDatasetName, loadDataset, testTransform } from "./data.ts";
import { errorLine, parseFlags, parseInteger, runMain, UsageError } from "./lib/args.ts";
import { OLD_FLAG_NAMES, renameOldFlags } from "./lib/flag_aliases.ts";
import { CheckpointError, checkWeightsFit, parseModelSpec } from "./lib/checkpoint.ts";
import { checkDeviceSpec, pickDevice } from "./lib/device_flag.ts";
import { ProgressBar } from "./lib/progress.ts";

/**
 * Options of {@linkcode evaluateCheckpoint}.
 *
 * @example
 * ```ts
 * import type { EvalOptions } from "./eval.ts";
 * const options: EvalOptions = { checkpoint: "runs/a/best.safetensors", limit: 500 };
 * ```
 */
export interface EvalOptions {
  /** A .safetensors file from train.ts, or a run folder (its best.safetensors). */
  checkpoint: string;
  /** Dataset to evaluate on (default: the checkpoint's). */
  dataset?: DatasetName;
  /** CIFAR-10 cache folder. */
  dataDir?: string;
  /** Evaluate the first N test images only. */
  limit?: number;
  /** Images per batch (default 64). */
  batchSize?: number;
  /** `"auto"` (default), `"cpu"` or `"cuda"`. */
  device?: string;
  /** Draw a progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
}

/**
 * What {@linkcode evaluateCheckpoint} measured (accuracies are fractions).
 *
 * @example
 * ```ts
 * import type { EvalReport } from "./eval.ts";
 * const worst = (r: EvalReport): string => r.perClass.toSorted((a, b) => a.accuracy - b.accuracy)[0].name;
 * ```
 */
export interface EvalReport {
  /** The file evaluated. */
  checkpoint: string;
  /** Network. */
  model: string;
  /** Stem. */
  stem: string;
  /** Input side. */
  imageSize: number;
  /** Epochs the checkpoint was trained (null when its metadata does not say). */
  trainedEpochs: number | null;
  /** Dataset evaluated. */
  dataset: DatasetName;
  /** Device name. */
  device: string;
  /** Images evaluated. */
  count: number;
  /** Mean cross entropy. */
  loss: number;
  /** Top-1 accuracy. */
  top1: number;
  /** Top-5 accuracy. */
  top5: number;
  /** Per class: name, images, correct and accuracy (NaN without images). */
  perClass: { name: string; count: number; correct: number; accuracy: number }[];
  /** `confusion[true class][predicted class]` counts. */
  confusion: number[][];
  /** Wall time of the evaluation in seconds. */
  seconds: number;
  /** Images per second. */
  imagesPerSecond: number;
}

/**
 * The `--help` text.
 *
 * @example
 * ```ts
 * import { EVAL_USAGE } from "./eval.ts";
 * console.log(EVAL_USAGE);
 * ```
 */
export const EVAL_USAGE: string = `Usage: deno task eval --checkpoint FILE [options]

Evaluates a checkpoint written by train.ts on a test split: loss, top-1, top-5, per-class accuracy
and a confusion matrix. The model, stem, image size and normalisation come from the checkpoint.

  --checkpoint FILE   a .safetensors file from train.ts, or a run folder (its best.safetensors)
  --dataset NAME      ${DATASET_NAMES.join(" | ")} (default: the dataset the checkpoint was trained on)
  --data-dir DIR      CIFAR-10 cache folder (default $XDG_CACHE_HOME/epsanet-deno or ~/.cache/epsanet-deno)
  --limit-test N      evaluate the first N test images only (as in train; --limit still works)
  --batch-size N      images per batch (default 64)
  --device DEV        auto | cpu | cuda (default auto)
  --json              print one JSON object instead of tables
  --help              show this help

Exit status: 0 when evaluated, 1 when the checkpoint or data cannot be used, 2 for bad flags.`;

const FLAGS = {
  checkpoint: { type: "string" },
  dataset: { type: "string" },
  "data-dir": { type: "string" },
  "limit-test": { type: "string" },
  "batch-size": { type: "string" },
  device: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Parses the command line of eval.ts.
 *
 * @param argv The arguments.
 * @returns Help, JSON output, and the evaluation options.
 * @throws A {@linkcode UsageError} for unknown flags, bad values or a missing --checkpoint.
 * @example
 * ```ts
 * import { parseEvalArgs } from "./eval.ts";
 * const { options } = parseEvalArgs(["--checkpoint", "runs/a", "--limit-test", "100"]);
 * ```
 */
export function parseEvalArgs(argv: readonly string[]): { help: boolean; json: boolean; options: EvalOptions } {
  const { values } = parseFlags(renameOldFlags(argv, OLD_FLAG_NAMES.eval), FLAGS);
  const help = values.help === true;
  const checkpoint = values.checkpoint as string | undefined;
  if (!help && (checkpoint === undefined || checkpoint === "")) {
    throw new UsageError("--checkpoint FILE is required (see --help)");
  }
  const options: EvalOptions = { checkpoint: checkpoint ?? "" };
  const dataset = values.dataset as string | undefined;
  if (dataset !== undefined) {
    if (!isDatasetName(dataset)) {
      throw new UsageError(`--dataset must be ${DATASET_NAMES.join(" or ")}, got "${dataset}"`);
    }
    options.dataset = dataset;
  }
  if (values["data-dir"] !== undefined) options.dataDir = values["data-dir"] as string;
  const limit = values["limit-test"] as string | undefined;
  if (limit !== undefined) options.limit = parseInteger("--limit-test", limit);
  if (values["batch-size"] !== undefined) {
    options.batchSize = parseInteger("--batch-size", values["batch-size"] as string);
  }
  if (values.device !== undefined) options.device = checkDeviceSpec(values.device as string);
  return { help, json: values.json === true, options };
}

async function checkpointFile(path: string): Promise<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new CheckpointError(`Cannot read checkpoint ${path}: ${errorLine(error)}`);
  }
  return info.isDirectory ? join(path, "best.safetensors") : path;
}

/**
 * Rebuilds the model a checkpoint describes, loads its weights and evaluates it on a test split.
 *
 * @param options Checkpoint, dataset, limit, batch size, device.
 * @returns Loss, accuracies, per-class accuracy and confusion matrix.
 * @throws A one-line {@linkcode CheckpointError} for an unreadable, truncated or mismatched
 *   checkpoint; a {@linkcode UsageError} for bad options.
 * @example
 * ```ts
 * import { evaluateCheckpoint } from "./eval.ts";
 * const report = await evaluateCheckpoint({ checkpoint: "runs/epsanet50-digits", device: "cpu" });
 * console.log(`${(100 * report.top1).toFixed(2)}%`);
 * ```
 */
export async function evaluateCheckpoint(options: EvalOptions): Promise<EvalReport> {
  const batchSize = options.batchSize ?? 64;
  for (const [flag, value] of [["--limit-test", options.limit], ["--batch-size", batchSize]] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      throw new UsageError(`${flag} must be a positive integer, got ${value}`);
    }
  }
  const file = await checkpointFile(options.checkpoint);
  let weights;
  try {
    weights = await readSafetensors(file);
  } catch (error) {
    throw new CheckpointError(errorLine(error));
  }
  const previousDevice = defaultDevice();
  let model = null;
  try {
    const spec = parseModelSpec(weights.metadata, file);
    const dataset = options.dataset ?? spec.dataset;
    const splits = await loadDataset(dataset, {
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      imageSize: spec.imageSize,
    });
    const classes = splits.test.classes;
    if (classes.join("\n") !== spec.classes.join("\n")) {
      const some = (names: string[]): string => names.slice(0, 3).join(", ") + (names.length > 3 ? ", ..." : "");
      throw new CheckpointError(
        dataset !== spec.dataset
          ? `Checkpoint ${file} was trained on ${spec.dataset}, whose classes differ from ${dataset}'s; ` +
            `evaluate it with --dataset ${spec.dataset}`
          : `Checkpoint ${file} lists classes (${some(spec.classes)}) that differ from ${dataset}'s ` +
            `(${some(classes)}); its metadata is damaged`,
      );
    }
    const device = pickDevice(options.device ?? "auto");
    setDefaultDevice(device);
    model = createModel(spec.model, { numClasses: spec.numClasses, stem: spec.stem }).to(device);
    checkWeightsFit(model, weights.tensors, file, `${spec.model} (${spec.stem} stem, ${spec.numClasses} classes)`);
    model.loadStateDict(weights.tensors);

    const loader = new BatchLoader(splits.test, {
      batchSize,
      transform: testTransform({
        height: splits.test.height,
        width: splits.test.width,
        imageSize: spec.imageSize,
        ...spec.normalization,
      }),
      limit: options.limit,
    });
    const bar = (options.progress ?? Deno.stderr.isTerminal()) ? new ProgressBar() : null;
    const result = await evaluate(model, loader, {
      device,
      numClasses: spec.numClasses,
      imageShape: [3, spec.imageSize, spec.imageSize],
      onBatch: (done, total) => bar?.update("eval", done, total, `${done * batchSize} images`),
    });
    bar?.clear();
    if (!result) throw new Error("Evaluation was interrupted");
    const accuracy = perClassAccuracy(result.confusion);
    const epoch = Number(weights.metadata.epoch);
    return {
      checkpoint: file,
      model: spec.model,
      stem: spec.stem,
      imageSize: spec.imageSize,
      trainedEpochs: Number.isInteger(epoch) ? epoch : null,
      dataset,
      device: device.name,
      count: result.count,
      loss: result.loss,
      top1: result.top1,
      top5: result.top5,
      perClass: classes.map((name, c) => ({
        name,
        count: result.confusion[c].reduce((a, b) => a + b, 0),
        correct: result.confusion[c][c],
        accuracy: accuracy[c],
      })),
      confusion: result.confusion,
      seconds: result.seconds,
      imagesPerSecond: result.count / result.seconds,
    };
  } finally {
    for (const t of Object.values(weights.tensors)) t.dispose();
    model?.dispose();
    setDefaultDevice(previousDevice);
  }
}

const pct = (fraction: number): string => Number.isNaN(fraction) ? "-" : `${(100 * fraction).toFixed(2)}%`;

/**
 * The report as text: a summary, a per-class table and the confusion matrix.
 *
 * @param report What {@linkcode evaluateCheckpoint} returned.
 * @returns Lines of text.
 * @example
 * ```ts
 * import { evaluateCheckpoint, formatReport } from "./eval.ts";
 * console.log(formatReport(await evaluateCheckpoint({ checkpoint: "runs/epsanet50-digits" })));
 * ```
 */
export function formatReport(report: EvalReport): string {
  const lines: string[] = [];
  const epochs = report.trainedEpochs;
  const trained = epochs === null ? "" : `, trained ${epochs} epoch${epochs === 1 ? "" : "s"}`;
  lines.push(
    `checkpoint: ${report.checkpoint} (${report.model}, ${report.stem} stem, ` +
      `${report.imageSize}x${report.imageSize}${trained})`,
    `${report.dataset} test on ${report.device}: ${report.count} images, loss ${report.loss.toFixed(4)}, ` +
      `top-1 ${pct(report.top1)}, top-5 ${pct(report.top5)} ` +
      `(${report.seconds.toFixed(1)} s, ${report.imagesPerSecond.toFixed(1)} img/s)`,
    "",
  );
  const nameWidth = Math.max(5, ...report.perClass.map((c) => c.name.length));
  lines.push(`  #  ${"class".padEnd(nameWidth)}  images  correct    top-1`);
  report.perClass.forEach((c, i) => {
    lines.push(
      `${String(i).padStart(3)}  ${c.name.padEnd(nameWidth)}  ${String(c.count).padStart(6)}  ` +
        `${String(c.correct).padStart(7)}  ${pct(c.accuracy).padStart(7)}`,
    );
  });
  const width = Math.max(4, ...report.confusion.flat().map((n) => String(n).length + 1));
  lines.push("", "confusion matrix (rows: true class #, columns: predicted class #):");
  lines.push("   " + report.confusion.map((_, c) => String(c).padStart(width)).join(""));
  report.confusion.forEach((row, r) => {
    lines.push(String(r).padStart(3) + row.map((n) => String(n).padStart(width)).join(""));
  });
  return lines.join("\n");
}

async function main(args: string[]): Promise<number> {
  const { help, json, options } = parseEvalArgs(args);
  if (help) {
    console.log(EVAL_USAGE);
    return 0;
  }
  const report = await evaluateCheckpoint(options);
  // JSON has no NaN: a class without images gets a null accuracy.
  console.log(json ? JSON.stringify(report, (_, v) => Number.isNaN(v) ? null : v) : formatReport(report));
  return 0;
}

if (import.meta.main) await runMain(main);
