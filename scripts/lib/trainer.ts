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
  createModel,
  createOptimizer,
  createSchedule,
  defaultDevice,
  manualSeed,
  type Model,
  NonFiniteLossError,
  type Optimizer,
  scheduleEpoch,
  setDefaultDevice,
  writeFileAtomic,
} from "../../mod.ts";
import { UsageError } from "./args.ts";
import { randomResizedCropTransform } from "../data/image_transforms.ts";
import type { ModelSpec } from "./checkpoint.ts";
import { pickDevice } from "./device_flag.ts";
import { checkNotDiverged } from "./divergence.ts";
import { pathExists } from "./files.ts";
import {
  disposeResumePoint,
  firstResult,
  holdsRun,
  readResumePoint,
  type ResumePoint,
  RUN_FILES,
  type RunPaths,
  runPaths,
} from "./run_folder.ts";
import { lockRun, removeStaleTemps } from "./run_lock.ts";
import { publishPointer, readPointer } from "./checkpoint_set.ts";
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
import { percent, type TrainResult, type TrainRuntime, TrainSession } from "./train_session.ts";

export type { StepInfo, TrainResult, TrainRuntime } from "./train_session.ts";

/** The config of a new run, or the saved one merged with the options on `--resume` (and its old --epochs). */
async function openConfig(
  options: TrainOptions,
  out: string,
  paths: RunPaths,
  log: (line: string) => void,
): Promise<TrainConfig & { savedEpochs?: number }> {
  if (options.resume) {
    checkOptions(options);
    if (!await pathExists(paths.config)) {
      throw new UsageError(`--resume: ${out} holds no run (no ${RUN_FILES.config}); start one without --resume`);
    }
    const saved = await readSavedConfig(paths.config);
    const config = resumeConfig(saved, options, out);
    validateConfig(config);
    return { ...config, savedEpochs: saved.epochs };
  }
  const config = resolveConfig(options);
  validateConfig(config);
  if (await firstResult(paths)) {
    throw new UsageError(`${out} already holds a run; pass --resume to continue it, or choose another --out`);
  }
  if (await holdsRun(paths)) log(`note: ${out} holds a run that stopped before its first checkpoint; starting it over`);
  return config;
}

/** The last checkpoint, or null when there is none and nothing would be lost by starting over. */
async function openResumePoint(out: string, paths: RunPaths, log: (line: string) => void): Promise<ResumePoint | null> {
  const point = await readResumePoint(paths);
  const pointer = point && await readPointer(paths.pointer);
  // A crash between the commit and the publishing left last.* / best behind: bring them up to date.
  if (pointer) await publishPointer(pointer, paths.generations, paths);
  if (point) return point;
  const result = await firstResult(paths);
  if (result) {
    throw new UsageError(
      `--resume: ${out} has no checkpoint to resume from (${RUN_FILES.pointer} and ${RUN_FILES.state} are missing, ` +
        `but ${result} is there); nothing was changed: restore the missing file, or start a new run with another --out`,
    );
  }
  log(`note: ${out} has no checkpoint yet; starting its run from the beginning`);
  return null;
}

/** The training and test loaders of a run. */
function makeLoaders(config: TrainConfig, splits: DatasetSplits): { train: BatchLoader; test: BatchLoader } {
  const normalization = datasetNormalization(config.dataset);
  const geometry = { height: splits.train.height, width: splits.train.width, imageSize: config.imageSize };
  const testGeometry = { height: splits.test.height, width: splits.test.width, imageSize: config.imageSize };
  const train = new BatchLoader(splits.train, {
    batchSize: config.batchSize,
    // image folders follow the ImageNet recipe: RandomResizedCrop + flip of the larger stored square
    transform: config.dataset === "folder"
      ? randomResizedCropTransform({ ...geometry, ...normalization, ...config.augmentation })
      : trainTransform({ ...geometry, ...normalization, ...config.augmentation }),
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
    transform: testTransform({ ...testGeometry, ...normalization }),
    limit: config.limitTest ?? undefined,
  });
  return { train, test };
}

/**
 * The one line that says what changes when `--resume --epochs N` differs from the run's plan: the
 * schedule continues as if the run had been planned for N epochs from the start.
 *
 * @param config The resumed run's config (with the new --epochs).
 * @param savedEpochs --epochs of the run's saved config.json.
 * @param lrNow The learning rate at the resume point under the new plan.
 * @returns A line starting with `note:`.
 * @example
 * ```ts
 * import { extensionNote } from "./trainer.ts";
 * import { resolveConfig } from "./train_config.ts";
 * console.log(extensionNote(resolveConfig({ epochs: 5 }), 3, 4e-4));
 * ```
 */
export function extensionNote(config: TrainConfig, savedEpochs: number, lrNow: number): string {
  const what = config.schedule === "cosine"
    ? `the cosine schedule continues as if planned for ${config.epochs} epochs from the start (lr now ${
      lrNow.toExponential(3)
    })`
    : config.schedule === "step"
    ? `the step schedule keeps --step-size ${config.stepSize} (lr now ${lrNow.toExponential(3)})`
    : `the lr stays ${config.lr}`;
  const exact = config.schedule === "cosine"
    ? `epochs 1-${savedEpochs} followed the ${savedEpochs}-epoch plan, so the run is not bit-exact with one ` +
      `planned for ${config.epochs}`
    : `the run equals one planned for ${config.epochs} epochs from the start`;
  return `note: --epochs ${config.epochs} changes the plan of ${savedEpochs} epochs: ${what}; ${exact}`;
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
      await session.trainRestOfEpoch();
    } catch (error) {
      if (!(error instanceof NonFiniteLossError)) throw error;
      throw new Error(
        `${error.where}; stopped without saving, so the last checkpoint in ${config.out} is untouched; ` +
          `lower --lr and start again`,
      );
    }
    const evaluation = await session.evaluate(epoch);
    checkNotDiverged(
      session.model,
      evaluation ? `epoch ${epoch}` : `epoch ${epoch}, batch ${session.state.batchesDone}`,
      config.out,
      evaluation?.loss,
    );
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
  const { savedEpochs, ...config } = await openConfig(options, out, paths, log);
  const splits = await loadDataset(config.dataset, {
    ...(config.dataDir ? { dataDir: config.dataDir } : {}),
    imageSize: config.imageSize,
  });
  const loaders = makeLoaders(config, splits);
  await Deno.mkdir(out, { recursive: true });
  const unlock = await lockRun(paths.lock, log);
  let point: ResumePoint | null = null;

  const previousDevice = defaultDevice();
  let model: Model | null = null;
  let optimizer: Optimizer | null = null;
  let session: TrainSession | null = null;
  try {
    // Only the lock holder may clear temporaries: another training's live ones look the same.
    await removeStaleTemps(out);
    await removeStaleTemps(paths.generations);
    point = options.resume ? await openResumePoint(out, paths, log) : null;
    if (point && point.state.epochsDone + (point.state.batchesDone > 0 ? 1 : 0) > config.epochs) {
      throw new UsageError(
        `--epochs ${config.epochs} is less than the ${point.state.epochsDone} epochs ${out} has trained; ` +
          `pass a larger --epochs`,
      );
    }
    const device = pickDevice(config.device);
    setDefaultDevice(device);
    await Deno.mkdir(paths.generations, { recursive: true });

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
    if (session.state.step > 0 && savedEpochs !== undefined && savedEpochs !== config.epochs) {
      log(extensionNote(
        config,
        savedEpochs,
        schedule?.lrAt(scheduleEpoch(config.schedule, {
          step: session.state.step,
          batchesPerEpoch: session.batches,
          epochsDone: session.state.epochsDone,
        })) ?? config.lr,
      ));
    }
    return await runEpochs(session);
  } finally {
    session?.clearBar();
    if (point) disposeResumePoint(point);
    optimizer?.dispose();
    model?.dispose();
    setDefaultDevice(previousDevice);
    await unlock();
  }
}
