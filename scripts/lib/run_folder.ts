/**
 * A training run's folder: its file names, whether a folder already holds a run, and reading the
 * last checkpoint back (weights, optimiser state, training state and the metrics it covers).
 *
 * @module
 */

import { join } from "node:path";
import { type OptimizerState, readSafetensors, type Safetensors } from "../../mod.ts";
import { CheckpointError, readTrainingState, type TrainingState } from "./checkpoint.ts";
import { committedGeneration, readPointer } from "./checkpoint_set.ts";
import { pathExists } from "./files.ts";
import { type MetricsRecord, parseMetrics } from "./metrics.ts";

/**
 * The files of a run folder, by role.
 *
 * @example
 * ```ts
 * import { RUN_FILES } from "./run_folder.ts";
 * console.log(RUN_FILES.best); // "best.safetensors"
 * ```
 */
export const RUN_FILES: Readonly<{
  config: string;
  metrics: string;
  plot: string;
  last: string;
  state: string;
  best: string;
  pointer: string;
  generations: string;
  lock: string;
}> = {
  config: "config.json",
  metrics: "metrics.jsonl",
  plot: "curves.svg",
  last: "last.safetensors",
  state: "last.state.safetensors",
  best: "best.safetensors",
  pointer: "checkpoint.json",
  generations: "generations",
  lock: "train.lock",
};

/** Paths of a run's files, by role. */
export type RunPaths = { readonly [K in keyof typeof RUN_FILES]: string };

/**
 * The paths of the files of the run in `dir`.
 *
 * @param dir The run folder.
 * @returns Each file's path.
 * @example
 * ```ts
 * import { runPaths } from "./run_folder.ts";
 * console.log(runPaths("runs/a").metrics); // "runs/a/metrics.jsonl"
 * ```
 */
export function runPaths(dir: string): RunPaths {
  const entries = Object.entries(RUN_FILES).map(([role, name]) => [role, join(dir, name)]);
  return Object.fromEntries(entries) as RunPaths;
}

/**
 * Whether any file of a run is present.
 *
 * @param paths The run's paths.
 * @returns True when at least one exists.
 * @example
 * ```ts
 * import { holdsRun, runPaths } from "./run_folder.ts";
 * console.log(await holdsRun(runPaths("/nonexistent"))); // false
 * ```
 */
export async function holdsRun(paths: RunPaths): Promise<boolean> {
  for (const path of Object.values(paths)) if (await pathExists(path)) return true;
  return false;
}

/**
 * Whether a run has results worth keeping: a checkpoint or weights. A folder with only a config,
 * metrics or plot is what a run that failed before its first checkpoint leaves; it can start over.
 *
 * @param paths The run's paths.
 * @returns The first such file, or null.
 * @example
 * ```ts
 * import { firstResult, runPaths } from "./run_folder.ts";
 * console.log(await firstResult(runPaths("/nonexistent"))); // null
 * ```
 */
export async function firstResult(paths: RunPaths): Promise<string | null> {
  for (const path of [paths.pointer, paths.state, paths.last, paths.best]) {
    if (await pathExists(path)) return path;
  }
  return null;
}

/** The last checkpoint of a run, read back. The caller disposes it with {@linkcode disposeResumePoint}. */
export interface ResumePoint {
  /** Epoch, step, RNG and running sums. */
  state: TrainingState;
  /** Optimiser hyper-parameters, steps and tensors (on the CPU). */
  optimizer: OptimizerState;
  /** The model weights (on the CPU) and their metadata. */
  weights: Safetensors;
  /** The metrics records up to the checkpoint. */
  records: MetricsRecord[];
}

/**
 * Frees the tensors of a resume point.
 *
 * @param point The resume point.
 * @example
 * ```ts
 * import { disposeResumePoint, readResumePoint, runPaths } from "./run_folder.ts";
 * // const point = await readResumePoint(runPaths("runs/a")); ... disposeResumePoint(point);
 * ```
 */
export function disposeResumePoint(point: ResumePoint): void {
  for (const t of Object.values(point.optimizer.tensors)) t.dispose();
  for (const t of Object.values(point.weights.tensors)) t.dispose();
}

/**
 * Reads a run's last checkpoint and checks that its pieces belong together: the weights and the
 * state carry the same checkpoint id, and metrics.jsonl holds the records the state counts (later
 * records, from steps after the checkpoint, are dropped).
 *
 * @param paths The run's paths.
 * @returns The resume point, or null when the run has no checkpoint yet.
 * @throws A {@linkcode CheckpointError} (one line) when a file is damaged or the pieces disagree.
 * @example
 * ```ts
 * import { readResumePoint, runPaths } from "./run_folder.ts";
 * const point = await readResumePoint(runPaths("/nonexistent"));
 * console.log(point); // null
 * ```
 */
export async function readResumePoint(paths: RunPaths): Promise<ResumePoint | null> {
  const pointer = await readPointer(paths.pointer);
  // A run written before generations existed has only last.*; read those.
  const files = pointer
    ? await committedGeneration(paths.pointer, pointer, paths.generations)
    : { weights: paths.last, state: paths.state };
  if (!pointer && !await pathExists(paths.state)) return null;
  const { state, optimizer } = await readTrainingState(files.state);
  let weights: Safetensors | null = null;
  try {
    try {
      weights = await readSafetensors(files.weights);
    } catch (error) {
      throw new CheckpointError(`${error instanceof Error ? error.message.split("\n")[0] : error}`);
    }
    if (weights.metadata.checkpoint_id !== state.checkpointId) {
      throw new CheckpointError(
        `${files.weights} and ${files.state} come from different checkpoints (a write was interrupted); ` +
          `the run cannot resume exactly`,
      );
    }
    let text = "";
    try {
      text = await Deno.readTextFile(paths.metrics);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const records = parseMetrics(text, paths.metrics).slice(0, state.metricsCount);
    if (records.length < state.metricsCount) {
      throw new CheckpointError(
        `${paths.metrics} has ${records.length} records, the checkpoint expects ${state.metricsCount}; ` +
          `the run folder is damaged`,
      );
    }
    return { state, optimizer, weights, records };
  } catch (error) {
    for (const t of Object.values(optimizer.tensors)) t.dispose();
    for (const t of Object.values(weights?.tensors ?? {})) t.dispose();
    throw error;
  }
}
