/**
 * The training run behind `deno task train`: the library's epoch loop ({@linkcode trainEpoch})
 * and evaluation, wrapped in what makes a run folder: config.json, metrics.jsonl, curves.svg,
 * checkpoints after every epoch and on interruption, exact resumption, progress bar or lines.
 *
 * @module
 */

import {
  BatchLoader,
  datasetNormalization,
  type DatasetSplits,
  loadDataset,
  testTransform,
  trainTransform,
} from "../data.ts";
import {
  copyFileAtomic,
  createModel,
  createOptimizer,
  createSchedule,
  defaultDevice,
  type Device,
  type EvalResult,
  evaluate,
  type LrSchedule,
  manualSeed,
  type Model,
  NonFiniteLossError,
  type Optimizer,
  scheduleEpoch,
  serializeSafetensors,
  setDefaultDevice,
  trainEpoch,
  writeFileAtomic,
} from "../../mod.ts";
import { UsageError } from "./args.ts";
import {
  checkpointMetadata,
  checkWeightsFit,
  type ModelSpec,
  type TrainingState,
  writeTrainingState,
} from "./checkpoint.ts";
import { pickDevice } from "./device_flag.ts";
import { pathExists } from "./files.ts";
import {
  type EpochRecord,
  epochRecords,
  formatMetrics,
  type MetricsRecord,
  runCharts,
  type StepRecord,
} from "./metrics.ts";
import { renderCharts } from "./plot.ts";
import { formatDuration, ProgressBar } from "./progress.ts";
import {
  disposeResumePoint,
  holdsRun,
  readResumePoint,
  type ResumePoint,
  RUN_FILES,
  type RunPaths,
  runPaths,
} from "./run_folder.ts";
import {
  checkOptions,
  defaultOut,
  readSavedConfig,
  resolveConfig,
  resumeConfig,
  type TrainConfig,
  type TrainOptions,
  validateConfig,
} from "./train_config.ts";

/**
 * Hooks and controls of a {@linkcode train} call that are not part of the run's configuration.
 *
 * @example
 * ```ts
 * import type { TrainRuntime } from "./trainer.ts";
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
 * import type { StepInfo } from "./trainer.ts";
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
 * import type { TrainResult } from "./trainer.ts";
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

const percent = (fraction: number): string => `${(100 * fraction).toFixed(2)}%`;
const emptyEpochSums = (): TrainingState["epochSums"] => ({ lossSum: 0, correct: 0, seen: 0, seconds: 0 });
const emptyLogSums = (): TrainingState["logSums"] => ({ lossSum: 0, correct: 0, seen: 0, steps: 0 });

/** The config of a new run, or the saved one merged with the options on `--resume`. */
async function openConfig(options: TrainOptions, out: string, paths: RunPaths): Promise<TrainConfig> {
  if (options.resume) {
    checkOptions(options);
    if (!await pathExists(paths.config)) {
      throw new UsageError(`--resume: ${out} holds no run (no ${RUN_FILES.config}); start one without --resume`);
    }
    const config = resumeConfig(await readSavedConfig(paths.config), options, out);
    validateConfig(config);
    return config;
  }
  const config = resolveConfig(options);
  validateConfig(config);
  if (await holdsRun(paths)) {
    throw new UsageError(`${out} already holds a run; pass --resume to continue it, or choose another --out`);
  }
  return config;
}

/** The training and test loaders of a run. */
function makeLoaders(config: TrainConfig, splits: DatasetSplits): { train: BatchLoader; test: BatchLoader } {
  const normalization = datasetNormalization(config.dataset);
  const geometry = { height: splits.train.height, width: splits.train.width, imageSize: config.imageSize };
  const train = new BatchLoader(splits.train, {
    batchSize: config.batchSize,
    transform: trainTransform({ ...geometry, ...normalization, ...config.augmentation }),
    shuffle: true,
    seed: config.seed + 1, // the weights draw from `seed` itself; another stream keeps the two apart
    dropLast: true, // a last batch of one image would give batch norm a zero variance
    limit: config.limitTrain ?? undefined,
  });
  if (train.length === 0) {
    throw new UsageError(
      `--batch-size ${config.batchSize} is larger than the ${train.count} training images; lower it`,
    );
  }
  const test = new BatchLoader(splits.test, {
    batchSize: config.batchSize,
    transform: testTransform({ ...geometry, ...normalization }),
    limit: config.limitTest ?? undefined,
  });
  return { train, test };
}

/** A run in progress: its model, optimiser, resume state and records, and how it writes its folder. */
class TrainSession {
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

  /** Writes metrics, plot and weights, then the state file, which commits the checkpoint. */
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
    await writeFileAtomic(paths.last, weights);
    if (improved) await copyFileAtomic(paths.last, paths.best);
    await writeTrainingState(paths.state, state, this.optimizer.stateDict());
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
  async trainEpoch(): Promise<void> {
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
    return record;
  }
}

/** The epochs left: train, evaluate, checkpoint; stops with a checkpoint when the signal aborts. */
async function runEpochs(session: TrainSession): Promise<TrainResult> {
  const { config, runtime } = session;
  const resumeHint = `continue with: deno task train --out ${config.out} --resume`;
  while (session.state.epochsDone < config.epochs) {
    const epoch = session.state.epochsDone + 1;
    const started = performance.now() - session.state.epochSums.seconds * 1000;
    const lr = session.schedule ? session.schedule.lrAt(session.state.epochsDone) : config.lr; // at the epoch's first step
    try {
      await session.trainEpoch();
    } catch (error) {
      if (!(error instanceof NonFiniteLossError)) throw error;
      throw new Error(
        `${error.where}; stopped without saving, so the last checkpoint in ${config.out} is untouched; ` +
          `lower --lr and start again`,
      );
    }
    const evaluation = await session.evaluate(epoch);
    if (!evaluation) {
      await session.writeCheckpoint({}, false);
      session.say(
        `interrupted: checkpoint saved at epoch ${epoch}, batch ${session.state.batchesDone}/${session.batches} ` +
          `(step ${session.state.step}); ${resumeHint}`,
      );
      return session.result(true);
    }
    const record = await session.finishEpoch(epoch, lr, started, evaluation);
    await runtime.onEpoch?.(record);
    if (runtime.signal?.aborted && session.state.epochsDone < config.epochs) {
      session.say(`interrupted after epoch ${epoch}; ${resumeHint}`);
      return session.result(true);
    }
  }
  const best = session.state.best;
  if (best) session.say(`best test top-1 ${percent(best.top1)} at epoch ${best.epoch}; files in ${config.out}`);
  return session.result(false);
}

/**
 * Trains a network as configured and writes the run folder (see `--help` for its files). Returns
 * when the epochs are done or, with an aborted `signal`, after writing a resumable checkpoint.
 * A resumed run continues exactly: on the CPU, its metrics and weights equal an uninterrupted run's.
 *
 * @param options The run's options (unset ones: defaults, or the saved config on resume).
 * @param runtime Abort signal, logging, progress bar and hooks.
 * @returns The epoch records, best accuracy and whether the run was interrupted.
 * @throws A {@linkcode UsageError} for bad options or an --out that already holds a run (without
 *   `resume`); an Error when the loss becomes NaN or infinite (nothing is written then, so the last
 *   checkpoint stays as it was), or when data, device or checkpoint cannot be used.
 * @example
 * ```ts
 * import { train } from "./trainer.ts";
 * const controller = new AbortController();
 * const result = await train(
 *   { epochs: 2, limitTrain: 64, limitTest: 32, batchSize: 16, imageSize: 16, out: "/tmp/run" },
 *   { signal: controller.signal, onStep: (s) => s.step === 3 && controller.abort() },
 * );
 * console.log(result.interrupted); // true: resume with { out: "/tmp/run", resume: true }
 * ```
 */
export async function train(options: TrainOptions, runtime: TrainRuntime = {}): Promise<TrainResult> {
  const log = runtime.log ?? ((line: string) => console.log(line));
  const out = options.out ?? defaultOut(options);
  const paths = runPaths(out);
  const config = await openConfig(options, out, paths);
  const splits = await loadDataset(config.dataset, config.dataDir ? { dataDir: config.dataDir } : {});
  const loaders = makeLoaders(config, splits);
  let point = options.resume ? await readResumePoint(paths) : null;
  if (options.resume && !point) log(`note: ${out} has no checkpoint yet; starting its run from the beginning`);

  const previousDevice = defaultDevice();
  let model: Model | null = null;
  let optimizer: Optimizer | null = null;
  let session: TrainSession | null = null;
  try {
    if (point && point.state.epochsDone + (point.state.batchesDone > 0 ? 1 : 0) > config.epochs) {
      throw new UsageError(
        `--epochs ${config.epochs} is less than the ${point.state.epochsDone} epochs ${out} has trained; ` +
          `pass a larger --epochs`,
      );
    }
    const device = pickDevice(config.device);
    setDefaultDevice(device);
    await Deno.mkdir(out, { recursive: true });

    // Model and optimiser: fresh (seeded), then overwritten by the checkpoint when resuming.
    const classes = splits.train.classes;
    manualSeed(config.seed);
    model = createModel(config.model, { numClasses: classes.length, stem: config.stem }).to(device);
    optimizer = createOptimizer(config.optimizer, model.parameters(), {
      lr: config.lr,
      momentum: config.momentum ?? undefined,
      weightDecay: config.weightDecay,
    });
    const schedule = createSchedule(config.schedule, optimizer, {
      epochs: config.epochs,
      stepSize: config.stepSize ?? undefined,
      gamma: config.gamma ?? undefined,
    });
    const spec: ModelSpec = {
      model: config.model,
      stem: config.stem,
      numClasses: classes.length,
      classes,
      imageSize: config.imageSize,
      dataset: config.dataset,
      normalization: datasetNormalization(config.dataset),
    };
    session = new TrainSession(config, paths, loaders, spec, device, model, optimizer, schedule, runtime, log);
    if (point) {
      session.restore(point);
      disposeResumePoint(point);
      point = null;
    }
    await writeFileAtomic(paths.config, JSON.stringify(config, null, 2) + "\n");
    session.describe();
    return await runEpochs(session);
  } finally {
    session?.clearBar();
    if (point) disposeResumePoint(point);
    optimizer?.dispose();
    model?.dispose();
    setDefaultDevice(previousDevice);
  }
}
