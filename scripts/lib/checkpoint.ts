/**
 * The checkpoint format of the training scripts.
 *
 * A run folder holds, besides `config.json` and `metrics.jsonl`:
 *
 * - `last.safetensors` / `best.safetensors`: the model's state dict only, with PyTorch key names
 *   (`torch` + `safetensors.torch.load_file` read it), and `__metadata__` strings that describe the
 *   model and how its inputs were prepared ({@linkcode ModelSpec}), so `eval.ts` can rebuild it;
 * - `last.state.safetensors`: everything else needed to resume exactly: the optimiser's state
 *   tensors (keys `optimizer.<parameter index>.<name>`, e.g. `optimizer.3.exp_avg`) and, as JSON in
 *   `__metadata__`, the optimiser's hyper-parameters and step counts plus the
 *   {@linkcode TrainingState} (epoch, batches done, data-loader RNG state, best accuracy,
 *   running sums).
 *
 * Both `last.*` files carry the same `checkpoint_id`. They are written as a generation under
 * `generations/` and committed together by one rename of `checkpoint.json` (checkpoint_set.ts).
 *
 * @module
 */

import {
  isModelName,
  isStemName,
  MODEL_NAMES,
  type ModelName,
  type nn,
  type OptimizerState,
  readSafetensors,
  serializeSafetensors,
  type Stem,
  STEM_NAMES,
  type Tensor,
  writeFileAtomic,
} from "../../mod.ts";
import { DATASET_NAMES, type DatasetName, isDatasetName, type Normalization } from "../data.ts";

/**
 * The value of the `format` metadata key of every checkpoint these scripts write.
 *
 * @example
 * ```ts
 * import { CHECKPOINT_FORMAT } from "./checkpoint.ts";
 * console.log(CHECKPOINT_FORMAT); // "epsanet-deno/checkpoint-1"
 * ```
 */
export const CHECKPOINT_FORMAT = "epsanet-deno/checkpoint-1";

/**
 * What it takes to rebuild a model from a checkpoint and feed it the right inputs.
 *
 * @example
 * ```ts
 * import type { ModelSpec } from "./checkpoint.ts";
 * const spec: ModelSpec = {
 *   model: "epsanet50", stem: "imagenet", numClasses: 10, classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
 *   imageSize: 32, dataset: "digits", normalization: { mean: [0.1, 0.1, 0.1], std: [0.3, 0.3, 0.3] },
 * };
 * ```
 */
export interface ModelSpec {
  /** Network name. */
  model: ModelName;
  /** Stem. */
  stem: Stem;
  /** Output classes. */
  numClasses: number;
  /** Class names, index order. */
  classes: string[];
  /** Side of the square input images. */
  imageSize: number;
  /** The dataset it was trained on. */
  dataset: DatasetName;
  /** Input normalisation. */
  normalization: Normalization;
}

/**
 * A checkpoint that cannot be used: unreadable, truncated, from another program, or not fitting
 * the model its metadata describes. Its message is one line.
 *
 * @example
 * ```ts
 * import { CheckpointError } from "./checkpoint.ts";
 * throw new CheckpointError("Checkpoint a.safetensors has no metadata");
 * ```
 */
export class CheckpointError extends Error {
  /** @param message One line saying what is wrong and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/**
 * The `__metadata__` strings of a model checkpoint: the spec plus any extra strings.
 *
 * @param spec The model description.
 * @param extra More strings (epoch, step, accuracy, config, checkpoint id).
 * @returns Metadata for `serializeSafetensors` / `saveWeights`.
 * @example
 * ```ts
 * import { checkpointMetadata } from "./checkpoint.ts";
 * const metadata = checkpointMetadata({
 *   model: "resnet50", stem: "cifar", numClasses: 2, classes: ["a", "b"], imageSize: 32,
 *   dataset: "cifar10", normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
 * }, { epoch: "1" });
 * console.log(metadata.model); // "resnet50"
 * ```
 */
export function checkpointMetadata(spec: ModelSpec, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...extra,
    format: CHECKPOINT_FORMAT,
    model: spec.model,
    stem: spec.stem,
    num_classes: String(spec.numClasses),
    classes: JSON.stringify(spec.classes),
    image_size: String(spec.imageSize),
    dataset: spec.dataset,
    normalization: JSON.stringify(spec.normalization),
  };
}

function isTriple(value: unknown): value is [number, number, number] {
  return Array.isArray(value) && value.length === 3 && value.every((v) => Number.isFinite(v));
}

/**
 * Reads a {@linkcode ModelSpec} back from checkpoint metadata, checking every field.
 *
 * @param metadata The `__metadata__` strings.
 * @param label The file, for messages.
 * @returns The spec.
 * @throws A {@linkcode CheckpointError} naming the first missing or invalid field.
 * @example
 * ```ts
 * import { checkpointMetadata, parseModelSpec } from "./checkpoint.ts";
 * const spec = parseModelSpec(checkpointMetadata({
 *   model: "epsanet50", stem: "imagenet", numClasses: 1, classes: ["x"], imageSize: 32,
 *   dataset: "digits", normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
 * }), "demo");
 * ```
 */
export function parseModelSpec(metadata: Record<string, string>, label: string): ModelSpec {
  const fail = (problem: string): never => {
    throw new CheckpointError(`Checkpoint ${label} ${problem}; use a checkpoint written by scripts/train.ts`);
  };
  if (Object.keys(metadata).length === 0) fail("has no metadata");
  if (metadata.format !== CHECKPOINT_FORMAT) {
    fail(`has format "${metadata.format ?? "(none)"}", expected "${CHECKPOINT_FORMAT}"`);
  }
  const json = (key: string): unknown => {
    try {
      return JSON.parse(metadata[key] ?? "");
    } catch {
      return fail(`has an invalid "${key}" entry in its metadata`);
    }
  };
  const required = ["model", "stem", "dataset", "num_classes", "classes", "image_size", "normalization"];
  const absent = required.find((key) => metadata[key] === undefined);
  if (absent) fail(`lacks "${absent}" in its metadata (is it a model checkpoint, not last.state.safetensors?)`);
  const { model, stem, dataset } = metadata;
  if (!isModelName(model ?? "")) fail(`names model "${model}", expected one of ${MODEL_NAMES.join(", ")}`);
  if (!isStemName(stem ?? "")) fail(`names stem "${stem}", expected ${STEM_NAMES.join(" or ")}`);
  if (!isDatasetName(dataset ?? "")) fail(`names dataset "${dataset}", expected ${DATASET_NAMES.join(" or ")}`);
  const numClasses = Number(metadata.num_classes);
  if (!Number.isInteger(numClasses) || numClasses < 1) fail(`has num_classes "${metadata.num_classes}"`);
  const imageSize = Number(metadata.image_size);
  if (!Number.isInteger(imageSize) || imageSize < 1) fail(`has image_size "${metadata.image_size}"`);
  const classes = json("classes");
  if (!Array.isArray(classes) || classes.length !== numClasses || !classes.every((c) => typeof c === "string")) {
    fail(`lists classes that do not match num_classes ${numClasses}`);
  }
  const normalization = json("normalization") as Record<string, unknown> | null;
  if (!normalization || !isTriple(normalization.mean) || !isTriple(normalization.std)) {
    fail(`has no valid normalization (mean and std of 3 channels)`);
  }
  return {
    model: model as ModelName,
    stem: stem as Stem,
    numClasses,
    classes: classes as string[],
    imageSize,
    dataset: dataset as DatasetName,
    normalization: normalization as unknown as Normalization,
  };
}

function listSome(items: string[]): string {
  const shown = items.slice(0, 3).join(", ");
  return items.length > 3 ? `${shown}, ...` : shown;
}

/**
 * Checks that a state dict fits a model (same keys, same shapes) and says briefly how it does not.
 *
 * @param model The model.
 * @param tensors The tensors read from a checkpoint.
 * @param label What the tensors are, for the message.
 * @param what What the model is, for the message (such as `"epsanet50 (imagenet stem, 10 classes)"`).
 * @throws A one-line {@linkcode CheckpointError}: counts and the first few missing, unexpected and
 *   mis-shaped keys.
 * @example
 * ```ts
 * import { checkWeightsFit } from "./checkpoint.ts";
 * import { nn } from "../../mod.ts";
 * const model = new nn.Linear(2, 1);
 * checkWeightsFit(model, model.stateDict(), "itself", "a linear layer");
 * ```
 */
export function checkWeightsFit(
  model: nn.Module,
  tensors: Readonly<Record<string, Tensor>>,
  label: string,
  what: string,
): void {
  const own = model.stateDict();
  const missing = Object.keys(own).filter((k) => !Object.hasOwn(tensors, k));
  const unexpected = Object.keys(tensors).filter((k) => !Object.hasOwn(own, k));
  const shapes = Object.keys(own).filter((k) =>
    Object.hasOwn(tensors, k) && tensors[k].shape.join() !== own[k].shape.join()
  ).map((k) => `${k} is [${tensors[k].shape}], model has [${own[k].shape}]`);
  const problems = [
    missing.length ? `${missing.length} missing keys (${listSome(missing)})` : "",
    unexpected.length ? `${unexpected.length} unexpected keys (${listSome(unexpected)})` : "",
    shapes.length ? `${shapes.length} shape mismatches (${listSome(shapes)})` : "",
  ].filter(Boolean);
  if (problems.length) {
    throw new CheckpointError(
      `Checkpoint ${label} does not fit ${what}: ${problems.join("; ")}; its metadata does not match its weights`,
    );
  }
}

/**
 * Everything besides weights and optimiser tensors that resuming needs.
 *
 * @example
 * ```ts
 * import type { TrainingState } from "./checkpoint.ts";
 * const fresh: TrainingState = {
 *   checkpointId: "0-abc", epochsDone: 0, batchesDone: 0, step: 0, loaderState: [1, 2, 3, 4, NaN],
 *   best: null, metricsCount: 0,
 *   epochSums: { lossSum: 0, correct: 0, seen: 0, seconds: 0 },
 *   logSums: { lossSum: 0, correct: 0, seen: 0, steps: 0 },
 * };
 * ```
 */
export interface TrainingState {
  /** Shared with the weights file of the same checkpoint. */
  checkpointId: string;
  /** Epochs completed (trained and evaluated). */
  epochsDone: number;
  /** Batches of epoch `epochsDone + 1` already trained (0 between epochs). */
  batchesDone: number;
  /** Optimiser steps taken. */
  step: number;
  /** The training loader's RNG state at the start of epoch `epochsDone + 1`. */
  loaderState: number[];
  /** Best test top-1 so far (a fraction) and its epoch; null before the first evaluation. */
  best: { top1: number; epoch: number } | null;
  /** Records of metrics.jsonl that belong to this checkpoint (later ones are dropped on resume). */
  metricsCount: number;
  /** Running sums of the current epoch's training batches. */
  epochSums: { lossSum: number; correct: number; seen: number; seconds: number };
  /** Running sums since the last logged step. */
  logSums: { lossSum: number; correct: number; seen: number; steps: number };
}

const OPTIMIZER_PREFIX = "optimizer.";

/**
 * Writes the resumable state atomically: optimiser tensors plus JSON metadata.
 *
 * @param path The file (`last.state.safetensors`).
 * @param state Epoch, step, RNG, best, running sums (the schedule follows from the step).
 * @param optimizer The optimiser's `stateDict()`.
 * @returns Once the file is in place.
 * @example
 * ```ts
 * import { writeTrainingState } from "./checkpoint.ts";
 * import { SGD, tensor } from "../../mod.ts";
 * const optimizer = new SGD([tensor([1], [1], { requiresGrad: true })], { lr: 0.1 });
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeTrainingState(path, {
 *   checkpointId: "0-abc", epochsDone: 0, batchesDone: 0, step: 0, loaderState: [1, 2, 3, 4, NaN],
 *   best: null, metricsCount: 0,
 *   epochSums: { lossSum: 0, correct: 0, seen: 0, seconds: 0 },
 *   logSums: { lossSum: 0, correct: 0, seen: 0, steps: 0 },
 * }, optimizer.stateDict());
 * ```
 */
export function writeTrainingState(path: string, state: TrainingState, optimizer: OptimizerState): Promise<void> {
  const tensors: Record<string, Tensor> = {};
  for (const [key, t] of Object.entries(optimizer.tensors)) tensors[OPTIMIZER_PREFIX + key] = t;
  const metadata = {
    format: CHECKPOINT_FORMAT,
    checkpoint_id: state.checkpointId,
    // JSON has no NaN: the generator marks "no spare normal" with NaN, stored as null.
    state: JSON.stringify({ ...state, loaderState: state.loaderState.map((v) => Number.isNaN(v) ? null : v) }),
    optimizer: JSON.stringify({ type: optimizer.type, hyper: optimizer.hyper, steps: optimizer.steps }),
  };
  return writeFileAtomic(path, serializeSafetensors(tensors, { metadata }, path));
}

function decodeState(json: string | undefined): TrainingState {
  const raw = JSON.parse(json ?? "");
  const state: TrainingState = {
    ...raw,
    loaderState: (raw.loaderState as (number | null)[]).map((v) => v === null ? NaN : v),
  };
  for (const key of ["epochsDone", "batchesDone", "step", "metricsCount"] as const) {
    if (!Number.isInteger(state[key]) || state[key] < 0) throw new Error(`"${key}" is not a count`);
  }
  return state;
}

/**
 * Reads just the header of a training state file: the {@linkcode TrainingState} without the
 * optimiser tensors (fast, even for a large model).
 *
 * @param path The file (`last.state.safetensors`).
 * @returns The state.
 * @throws A {@linkcode CheckpointError} when the file is unreadable or not a training state.
 * @example
 * ```ts
 * import { peekTrainingState } from "./checkpoint.ts";
 * // const { epochsDone, batchesDone } = await peekTrainingState("runs/x/last.state.safetensors");
 * ```
 */
export async function peekTrainingState(path: string): Promise<TrainingState> {
  try {
    using file = await Deno.open(path);
    const lengthBytes = new Uint8Array(8);
    if (await file.read(lengthBytes) !== 8) throw new Error("the file is shorter than 8 bytes");
    const headerLength = Number(new DataView(lengthBytes.buffer).getBigUint64(0, true));
    if (headerLength > 100_000_000) throw new Error(`implausible header length ${headerLength}`);
    const header = new Uint8Array(headerLength);
    for (let done = 0; done < headerLength;) {
      const n = await file.read(header.subarray(done));
      if (n === null) throw new Error("the header is truncated");
      done += n;
    }
    const metadata = JSON.parse(new TextDecoder().decode(header)).__metadata__ ?? {};
    if (metadata.format !== CHECKPOINT_FORMAT) throw new Error(`format is not ${CHECKPOINT_FORMAT}`);
    return decodeState(metadata.state);
  } catch (error) {
    throw new CheckpointError(
      `Invalid training state ${path}: ${error instanceof Error ? error.message : error}; ` +
        `it was not written by scripts/train.ts or is damaged`,
    );
  }
}

/**
 * Reads a state written by {@linkcode writeTrainingState}.
 *
 * @param path The file.
 * @returns The state and the optimiser state (its tensors are on the CPU; the caller disposes them).
 * @throws A {@linkcode CheckpointError} when the file is unreadable or not a training state.
 * @example
 * ```ts
 * import { readTrainingState } from "./checkpoint.ts";
 * // const { state, optimizer } = await readTrainingState("runs/x/last.state.safetensors");
 * ```
 */
export async function readTrainingState(
  path: string,
): Promise<{ state: TrainingState; optimizer: OptimizerState }> {
  let file;
  try {
    file = await readSafetensors(path);
  } catch (error) {
    throw new CheckpointError(error instanceof Error ? error.message.split("\n")[0] : String(error));
  }
  const { tensors, metadata } = file;
  try {
    if (metadata.format !== CHECKPOINT_FORMAT) throw new Error(`format is not ${CHECKPOINT_FORMAT}`);
    const state = decodeState(metadata.state);
    const optimizerMeta = JSON.parse(metadata.optimizer);
    if (state.checkpointId !== metadata.checkpoint_id) throw new Error("checkpoint ids disagree");
    const optimizerTensors: Record<string, Tensor> = {};
    for (const [key, t] of Object.entries(tensors)) {
      if (!key.startsWith(OPTIMIZER_PREFIX)) throw new Error(`unexpected tensor "${key}"`);
      optimizerTensors[key.slice(OPTIMIZER_PREFIX.length)] = t;
    }
    return {
      state,
      optimizer: {
        type: optimizerMeta.type,
        hyper: optimizerMeta.hyper,
        steps: optimizerMeta.steps,
        tensors: optimizerTensors,
      },
    };
  } catch (error) {
    for (const t of Object.values(tensors)) t.dispose();
    throw new CheckpointError(
      `Invalid training state ${path}: ${error instanceof Error ? error.message : error}; ` +
        `it was not written by scripts/train.ts or is damaged`,
    );
  }
}
