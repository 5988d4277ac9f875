/**
 * A training run in progress, as `deno task train` keeps it: model, optimiser and schedule, the
 * resume state and metrics records, the progress bar and step lines, and the checkpoint writes
 * of its run folder. The loop itself is the library's {@linkcode trainEpoch}.
 *
 * @module
 */

import type { BatchLoader } from "../data.ts";
import {
  type Device,
  type EvalResult,
  evaluate,
  type LrSchedule,
  type Model,
  type Optimizer,
  scheduleEpoch,
  serializeSafetensors,
  trainEpoch,
  writeFileAtomic,
} from "../../mod.ts";
import {
  checkpointMetadata,
  checkWeightsFit,
  type ModelSpec,
  type TrainingState,
  writeTrainingState,
} from "./checkpoint.ts";
import {
  type EpochRecord,
  epochRecords,
  formatMetrics,
  type MetricsRecord,
  runCharts,
  type StepRecord,
} from "./metrics.ts";
import { commitGeneration, generationPaths, POINTER_FORMAT, readPointer } from "./checkpoint_set.ts";
import { evalGapWarning } from "./eval_gap.ts";
import { renderCharts } from "./plot.ts";
import { formatDuration, ProgressBar } from "./progress.ts";
import type { ResumePoint, RunPaths } from "./run_folder.ts";
import type { TrainConfig } from "./train_config.ts";

/**
 * Hooks and controls of a {@linkcode train} call that are not part of the run's configuration.
 *
 * @example
 * ```ts
 * import type { TrainRuntime } from "./train_session.ts";
 * const controller = new AbortController();
 * const runtime: TrainRuntime = { signal: controller.signal, log: () => {}, onStep: (s) => s.step >= 5 && controller.abort() };
 * ```
 */
export interface TrainRuntime {
  /** When aborted (Ctrl-C), the run saves a resumable checkpoint after the current step and returns. */
  signal?: AbortSignal;
  /** Where human-readable lines go (default `console.log`). */
  log?: (line: string) => void;
  /** Draw a progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
  /** Called before each training step with the model, e.g. to inspect or perturb it. */
  beforeStep?: (info: { epoch: number; batch: number; step: number; model: Model }) => void;
  /** Called after each training step. */
  onStep?: (info: StepInfo) => void;
  /** Called after each epoch, once its checkpoint is written. */
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
}

/**
 * One training step, as seen by {@linkcode TrainRuntime.onStep}.
 *
 * @example
 * ```ts
 * import type { StepInfo } from "./train_session.ts";
 * const line = (s: StepInfo): string => `step ${s.step}: loss ${s.loss.toFixed(3)}`;
 * ```
 */
export interface StepInfo {
  /** Epoch, 1-based. */
  epoch: number;
  /** Batch within the epoch, 1-based. */
  batch: number;
  /** Batches per epoch. */
  batches: number;
  /** Optimiser steps since the run began. */
  step: number;
  /** The batch's loss. */
  loss: number;
  /** Wall time of the step, data included, in ms. */
  ms: number;
  /** Images in the batch. */
  images: number;
}

/**
 * What {@linkcode train} returns.
 *
 * @example
 * ```ts
 * import type { TrainResult } from "./train_session.ts";
 * const summary = (r: TrainResult): string => `best ${r.best?.top1} at epoch ${r.best?.epoch}`;
 * ```
 */
export interface TrainResult {
  /** The run folder. */
  out: string;
  /** The resolved configuration. */
  config: TrainConfig;
  /** Every epoch record of the run, earlier sessions included. */
  epochs: EpochRecord[];
  /** Best test top-1 (a fraction) and its epoch. */
  best: { top1: number; epoch: number } | null;
  /** Optimiser steps taken in all. */
  step: number;
  /** True when the run stopped early on the abort signal (a resumable checkpoint was written). */
  interrupted: boolean;
}

export const percent = (fraction: number): string => `${(100 * fraction).toFixed(2)}%`;
const emptyEpochSums = (): TrainingState["epochSums"] => ({ lossSum: 0, correct: 0, seen: 0, seconds: 0 });
const emptyLogSums = (): TrainingState["logSums"] => ({ lossSum: 0, correct: 0, seen: 0, steps: 0 });

/**
 * A run in progress: its model, optimiser, resume state and records, and how it writes its folder.
 *
 * @example
 * ```ts
 * import type { TrainSession } from "./train_session.ts";
 * const position = (s: TrainSession): string => `epoch ${s.state.epochsDone}, batch ${s.state.batchesDone}`;
 * ```
 */
export class TrainSession {
  readonly batches: number;
  readonly imageShape: readonly number[];
  state: TrainingState;
  records: MetricsRecord[] = [];
  readonly #bar: ProgressBar | null;
  #sessionSteps = 0;
  #sessionMs = 0;

  constructor(
    readonly config: TrainConfig,
    readonly paths: RunPaths,
    readonly loaders: { train: BatchLoader; test: BatchLoader },
    readonly spec: ModelSpec,
    readonly device: Device,
    readonly model: Model,
    readonly optimizer: Optimizer,
    readonly schedule: LrSchedule | null,
    readonly runtime: TrainRuntime,
    readonly log: (line: string) => void,
  ) {
    this.batches = loaders.train.length;
    this.imageShape = [3, config.imageSize, config.imageSize];
    this.#bar = (runtime.progress ?? Deno.stderr.isTerminal()) ? new ProgressBar() : null;
    this.state = {
      checkpointId: "",
      epochsDone: 0,
      batchesDone: 0,
      step: 0,
      loaderState: loaders.train.getState(),
      best: null,
      metricsCount: 0,
      epochSums: emptyEpochSums(),
      logSums: emptyLogSums(),
    };
  }

  /** Prints a line, clearing the bar first. */
  say(line: string): void {
    this.#bar?.clear();
    this.log(line);
  }

  /** Erases the progress bar. */
  clearBar(): void {
    this.#bar?.clear();
  }

  /** Takes over the model, optimiser, state and records of the last checkpoint. */
  restore(point: ResumePoint): void {
    const { spec } = this;
    checkWeightsFit(
      this.model,
      point.weights.tensors,
      this.paths.last,
      `${spec.model} (${spec.stem} stem, ${spec.numClasses} classes)`,
    );
    this.model.loadStateDict(point.weights.tensors);
    this.optimizer.loadStateDict(point.optimizer);
    this.state = point.state;
    this.records = point.records;
    const { epochsDone, batchesDone, step } = this.state;
    this.records.push({ type: "resume", epoch: epochsDone, batch: batchesDone, step, device: this.device.name });
  }

  /** The run's opening lines: device, model and data, optimiser and position. */
  describe(): void {
    const { config, state } = this;
    this.log(`device: ${this.device.describe()}`);
    this.log(
      `model: ${config.model} (${config.stem} stem, ${
        this.model.numParameters().toLocaleString("en-US")
      } parameters); ` +
        `${config.dataset}: ${this.loaders.train.count} train / ${this.loaders.test.count} test images at ` +
        `${config.imageSize}x${config.imageSize}; ${this.batches} steps of ${config.batchSize} per epoch`,
    );
    this.log(
      `${config.optimizer} lr ${config.lr}` + (config.schedule !== "none" ? ` (${config.schedule} schedule)` : "") +
        `, ${config.epochs} epoch${config.epochs === 1 ? "" : "s"}, out: ${config.out}` +
        (state.step > 0 ? `; resuming after epoch ${state.epochsDone}, batch ${state.batchesDone}` : ""),
    );
  }

  /**
   * Writes metrics and plot, then the checkpoint's generation (weights and state, complete), then
   * commits it with one rename of `checkpoint.json` (see checkpoint_set.ts).
   */
  async writeCheckpoint(extra: Record<string, string>, improved: boolean): Promise<void> {
    const { state, config, paths } = this;
    state.checkpointId = `${state.step}-${crypto.randomUUID().slice(0, 8)}`;
    state.metricsCount = this.records.length;
    await writeFileAtomic(paths.metrics, formatMetrics(this.records));
    await writeFileAtomic(
      paths.plot,
      renderCharts(runCharts(this.records), { title: `${config.model} on ${config.dataset}` }),
    );
    const metadata = checkpointMetadata(this.spec, {
      ...extra,
      epoch: String(state.epochsDone),
      batches_done: String(state.batchesDone),
      step: String(state.step),
      checkpoint_id: state.checkpointId,
      config: JSON.stringify(config),
    });
    const weights = serializeSafetensors(
      this.model.stateDict(),
      { metadata, integerKeys: this.model.integerStateKeys() },
      paths.last,
    );
    const generation = generationPaths(paths.generations, state.checkpointId);
    await writeFileAtomic(generation.weights, weights);
    await writeTrainingState(generation.state, state, this.optimizer.stateDict());
    const best = improved ? state.checkpointId : (await readPointer(paths.pointer))?.best ?? null;
    await commitGeneration(
      paths.pointer,
      { format: POINTER_FORMAT, last: state.checkpointId, best },
      paths.generations,
      paths,
    );
  }

  /** What {@linkcode train} returns at this point. */
  result(interrupted: boolean): TrainResult {
    const { state } = this;
    return {
      out: this.config.out,
      config: this.config,
      epochs: epochRecords(this.records),
      best: state.best,
      step: state.step,
      interrupted,
    };
  }

  /** Trains what is left of the next epoch; returns when it is done or the signal aborted it. */
  async trainRestOfEpoch(): Promise<void> {
    const { config, state, runtime, batches } = this;
    const epoch = state.epochsDone + 1;
    let intervalStart: number | null = null;
    this.loaders.train.setState(state.loaderState);
    await trainEpoch({
      model: this.model,
      optimizer: this.optimizer,
      batches: this.loaders.train.epoch(),
      imageShape: this.imageShape,
      device: this.device,
      epoch,
      step: state.step,
      skip: state.batchesDone,
      labelSmoothing: config.labelSmoothing,
      signal: runtime.signal,
      beforeStep: ({ batch, step }) => {
        const position = { step: state.step, batchesPerEpoch: batches, epochsDone: state.epochsDone };
        this.schedule?.setEpoch(scheduleEpoch(config.schedule, position));
        runtime.beforeStep?.({ epoch, batch, step, model: this.model });
      },
      afterStep: async (done) => {
        intervalStart ??= done.now - done.ms;
        state.step = done.step;
        state.batchesDone = done.batch;
        this.#addToSums(done.loss, done.correct, done.count, done.ms);
        runtime.onStep?.({
          epoch,
          batch: done.batch,
          batches,
          step: done.step,
          loss: done.loss,
          ms: done.ms,
          images: done.count,
        });
        const eta = (this.#sessionMs / this.#sessionSteps) * this.#stepsLeft() / 1000;
        this.#drawBar(epoch, done.batch, done.ms, done.count, eta);
        if (done.batch % config.logEvery === 0 || done.batch === batches) {
          this.#logSteps(epoch, done.batch, (done.now - intervalStart) / 1000, eta);
          intervalStart = done.now;
          await writeFileAtomic(this.paths.metrics, formatMetrics(this.records));
        }
      },
    });
  }

  #stepsLeft(): number {
    return (this.config.epochs - this.state.epochsDone) * this.batches - this.state.batchesDone;
  }

  #addToSums(loss: number, correct: number, count: number, ms: number): void {
    const { state } = this;
    this.#sessionSteps++;
    this.#sessionMs += ms;
    for (const sums of [state.epochSums, state.logSums]) {
      sums.lossSum += loss * count;
      sums.correct += correct;
      sums.seen += count;
    }
    state.epochSums.seconds += ms / 1000;
    state.logSums.steps++;
  }

  #drawBar(epoch: number, batch: number, ms: number, count: number, eta: number): void {
    const sums = this.state.epochSums;
    this.#bar?.update(
      `epoch ${epoch}/${this.config.epochs}`,
      batch,
      this.batches,
      `loss ${(sums.lossSum / sums.seen).toFixed(4)} | top-1 ${percent(sums.correct / sums.seen)} | ` +
        `${ms.toFixed(0)} ms | ${(count / (ms / 1000)).toFixed(1)} img/s | eta ${formatDuration(eta)}`,
    );
  }

  /** Records the steps since the last step record (and prints them when there is no bar). */
  #logSteps(epoch: number, batch: number, seconds: number, eta: number): void {
    const logged = this.state.logSums;
    const record: StepRecord = {
      type: "step",
      epoch,
      batch,
      batches: this.batches,
      step: this.state.step,
      loss: logged.lossSum / logged.seen,
      top1: logged.correct / logged.seen,
      lr: this.optimizer.lr,
      ms: (1000 * seconds) / logged.steps,
      imagesPerSecond: logged.seen / seconds,
    };
    this.records.push(record);
    this.state.logSums = emptyLogSums();
    if (this.#bar) return;
    this.log(
      `epoch ${epoch}/${this.config.epochs} step ${batch}/${this.batches} | loss ${record.loss.toFixed(4)} | ` +
        `top-1 ${percent(record.top1)} | lr ${record.lr.toExponential(2)} | ${record.ms.toFixed(0)} ms | ` +
        `${record.imagesPerSecond.toFixed(1)} img/s | eta ${formatDuration(eta)}`,
    );
  }

  /** Evaluates the epoch's model on the test loader; null when the signal aborted it (or had before). */
  evaluate(epoch: number): Promise<EvalResult | null> {
    if (this.runtime.signal?.aborted) return Promise.resolve(null);
    return evaluate(this.model, this.loaders.test, {
      device: this.device,
      numClasses: this.spec.numClasses,
      imageShape: this.imageShape,
      signal: this.runtime.signal,
      onBatch: (done, total) => this.#bar?.update(`test  ${epoch}/${this.config.epochs}`, done, total, ""),
    });
  }

  /** Records a finished epoch, writes its checkpoint and prints its line. */
  async finishEpoch(epoch: number, lr: number, started: number, evaluation: EvalResult): Promise<EpochRecord> {
    const { state } = this;
    const sums = state.epochSums;
    const improved = state.best === null || evaluation.top1 > state.best.top1;
    if (improved) state.best = { top1: evaluation.top1, epoch };
    const record: EpochRecord = {
      type: "epoch",
      epoch,
      step: state.step,
      lr,
      trainLoss: sums.lossSum / sums.seen,
      trainTop1: sums.correct / sums.seen,
      testLoss: evaluation.loss,
      testTop1: evaluation.top1,
      testTop5: evaluation.top5,
      best: improved,
      seconds: (performance.now() - started) / 1000,
      trainSeconds: sums.seconds,
      evalSeconds: evaluation.seconds,
      trainImagesPerSecond: sums.seen / sums.seconds,
      evalImagesPerSecond: evaluation.count / evaluation.seconds,
    };
    this.records.push(record);
    state.epochsDone = epoch;
    state.batchesDone = 0;
    state.loaderState = this.loaders.train.getState();
    state.epochSums = emptyEpochSums();
    state.logSums = emptyLogSums();
    await this.writeCheckpoint({ test_top1: String(evaluation.top1), test_top5: String(evaluation.top5) }, improved);
    this.say(
      `epoch ${epoch}/${this.config.epochs} | train loss ${record.trainLoss.toFixed(4)} ` +
        `top-1 ${percent(record.trainTop1)} | test loss ${record.testLoss.toFixed(4)} ` +
        `top-1 ${percent(record.testTop1)} top-5 ${percent(record.testTop5)}${improved ? " (best)" : ""} | ` +
        `${formatDuration(record.seconds)} | ${record.trainImagesPerSecond.toFixed(1)} img/s train, ` +
        `${record.evalImagesPerSecond.toFixed(1)} img/s test`,
    );
    const gap = evalGapWarning(record.trainTop1, record.testTop1, state.step);
    if (gap) this.say(gap);
    return record;
  }
}
