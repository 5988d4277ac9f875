/**
 * Trains EPSANet-50/101 or ResNet-50 on the offline digits or on CIFAR-10, with checkpoints that
 * resume exactly, metrics as JSON Lines and an SVG of the learning curves.
 *
 * ```sh
 * deno task train                                   # EPSANet-50 on digits, 3 epochs, ~96.5% top-1
 * deno task train --dataset cifar10 --optimizer adam --lr 0.001 --batch-size 64 --epochs 10 --image-size 224
 * deno task train --out runs/epsanet50-digits --resume --epochs 4
 * ```
 *
 * @example
 * ```ts
 * import { train } from "./train.ts";
 * const result = await train({ epochs: 1, limitTrain: 64, limitTest: 32, batchSize: 16, imageSize: 16, out: "/tmp/tiny" });
 * console.log(result.epochs[0].testTop1);
 * ```
 *
 * @module
 */

import { MODEL_NAMES, OPTIMIZER_NAMES, SCHEDULE_NAMES, STEM_NAMES } from "../mod.ts";
import { DATASET_NAMES } from "./data.ts";
import { parseChoice, parseFlags, parseInteger, parseNumber, runMain } from "./lib/args.ts";
import { abortOnSigint } from "./lib/interrupt.ts";
import {
  checkOptions,
  DATASET_DEFAULTS,
  resolveConfig,
  TRAIN_DEFAULTS,
  type TrainOptions,
  validateConfig,
} from "./lib/train_config.ts";
import { train } from "./lib/trainer.ts";

export {
  checkOptions,
  DATASET_DEFAULTS,
  resolveConfig,
  TRAIN_DEFAULTS,
  type TrainConfig,
  type TrainOptions,
  validateConfig,
} from "./lib/train_config.ts";
export { type StepInfo, train, type TrainResult, type TrainRuntime } from "./lib/trainer.ts";

/** What {@linkcode parseTrainArgs} returns. */
export interface TrainArgs {
  /** `--help` was given. */
  help: boolean;
  /** The options given on the command line (unset ones are left out). */
  options: TrainOptions;
}

/**
 * The `--help` text.
 *
 * @example
 * ```ts
 * import { TRAIN_USAGE } from "./train.ts";
 * console.log(TRAIN_USAGE.split("\n")[0]);
 * ```
 */
export const TRAIN_USAGE: string = `Usage: deno task train [options]

Trains a network and writes checkpoints, metrics and learning curves. With no options: EPSANet-50
on the offline digits (MNIST, 32x32) for 3 epochs: about 7 minutes on 2 CPU cores, ~96.5% top-1.

Model and data:
  --model NAME          ${MODEL_NAMES.join(" | ")} (default ${TRAIN_DEFAULTS.model})
  --stem STEM           imagenet (7x7/2 conv + max pool) | cifar (3x3/1 conv, no pool)
                        (default ${TRAIN_DEFAULTS.stem})
  --dataset NAME        ${DATASET_NAMES.join(" | ")} (default ${TRAIN_DEFAULTS.dataset}; prepare cifar10 once with
                        \`deno task data\`)
  --data-dir DIR        CIFAR-10 cache folder (default $XDG_CACHE_HOME/epsanet-deno or ~/.cache/epsanet-deno);
                        for --dataset folder, the folder holding train/ and val/ (or test/) class folders
  --image-size N        input side in pixels, at least 8; images are resized bilinearly (default ${TRAIN_DEFAULTS.imageSize})
  --limit-train N       train on the first N training images only
  --limit-test N        evaluate on the first N test images only
  Training augmentation is fixed per dataset: for cifar10 random crops of the image padded by 4
  pixels and horizontal flips; for digits none; for folder RandomResizedCrop and horizontal flips.

Optimisation:
  --epochs N            epochs in all (default ${TRAIN_DEFAULTS.epochs})
  --batch-size N        images per step, also used for evaluation (default ${TRAIN_DEFAULTS.batchSize})
  --optimizer NAME      ${OPTIMIZER_NAMES.join(" | ")} (default ${TRAIN_DEFAULTS.optimizer})
  --lr X                learning rate, a finite number > 0 (default ${TRAIN_DEFAULTS.lr})
  --momentum X          SGD momentum in [0, 1) (sgd only; default ${TRAIN_DEFAULTS.sgdMomentum})
  --weight-decay X      L2 penalty, >= 0 (default ${TRAIN_DEFAULTS.weightDecay})
  --schedule NAME       ${
  SCHEDULE_NAMES.join(" | ")
} (default: ${DATASET_DEFAULTS.digits.schedule} for digits, ${DATASET_DEFAULTS.cifar10.schedule} for cifar10);
                        cosine anneals from --lr to 0 over --epochs, updated every step; step
                        multiplies the lr by --gamma every --step-size epochs
  --step-size N         step schedule: epochs between decays (default: a third of --epochs)
  --gamma X             step schedule: decay factor (default ${TRAIN_DEFAULTS.gamma})
  --label-smoothing X   in [0, 1) (default ${TRAIN_DEFAULTS.labelSmoothing})
  --seed N              seed of the weight init, data order and augmentation (default ${TRAIN_DEFAULTS.seed})

Run:
  --device DEV          auto | cpu | cuda (default ${TRAIN_DEFAULTS.device}: CUDA when it works, else the CPU)
  --out DIR             run folder (default runs/<model>-<dataset>); it must not hold a run unless
                        --resume is given
  --resume              continue the run in --out from its last checkpoint, exactly where it
                        stopped; only --epochs, --device, --data-dir and --log-every may differ
                        from the run's config.json
  --log-every N         a step line / record every N steps (default ${TRAIN_DEFAULTS.logEvery})
  --help                show this help

Files in --out: config.json (all options), metrics.jsonl (one JSON object per logged step and per
epoch), curves.svg (loss and accuracy), last.safetensors (weights with PyTorch names, each epoch),
last.state.safetensors (optimizer and resume state), best.safetensors (best test top-1); the last.*
and best files link to generations/, and checkpoint.json commits each checkpoint with one rename.
Ctrl-C writes a resumable checkpoint after the current step; a second Ctrl-C quits at once.

The seed article's CIFAR-10 recipe:
  deno task train --dataset cifar10 --optimizer adam --lr 0.001 --batch-size 64 --epochs 10 --image-size 224`;

const FLAGS = {
  model: { type: "string" },
  stem: { type: "string" },
  dataset: { type: "string" },
  "data-dir": { type: "string" },
  "image-size": { type: "string" },
  "limit-train": { type: "string" },
  "limit-test": { type: "string" },
  epochs: { type: "string" },
  "batch-size": { type: "string" },
  optimizer: { type: "string" },
  lr: { type: "string" },
  momentum: { type: "string" },
  "weight-decay": { type: "string" },
  schedule: { type: "string" },
  "step-size": { type: "string" },
  gamma: { type: "string" },
  "label-smoothing": { type: "string" },
  seed: { type: "string" },
  device: { type: "string" },
  out: { type: "string" },
  resume: { type: "boolean" },
  "log-every": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Parses the command line of train.ts. Every value is checked; nothing is read from disk.
 *
 * @param argv The arguments (such as `Deno.args`).
 * @returns Whether help was asked for, and the options that were given.
 * @throws A {@linkcode UsageError} (one line) for unknown flags and bad values.
 * @example
 * ```ts
 * import { parseTrainArgs } from "./train.ts";
 * const { options } = parseTrainArgs(["--epochs", "3", "--lr", "1e-4"]);
 * console.log(options); // { epochs: 3, lr: 0.0001 }
 * ```
 */
export function parseTrainArgs(argv: readonly string[]): TrainArgs {
  const { values } = parseFlags(argv, FLAGS);
  const text = (name: keyof typeof FLAGS): string | undefined => values[name] as string | undefined;
  const options: TrainOptions = {};
  const set = <K extends keyof TrainOptions>(key: K, value: TrainOptions[K] | undefined): void => {
    if (value !== undefined) options[key] = value;
  };
  const integer = (name: keyof typeof FLAGS, min = 1): number | undefined => {
    const t = text(name);
    return t === undefined ? undefined : parseInteger(`--${name}`, t, min);
  };
  const number = (name: keyof typeof FLAGS): number | undefined => {
    const t = text(name);
    return t === undefined ? undefined : parseNumber(`--${name}`, t);
  };
  const choice = <T extends string>(name: keyof typeof FLAGS, names: readonly T[]): T | undefined => {
    const t = text(name);
    return t === undefined ? undefined : parseChoice(`--${name}`, t, names);
  };
  set("model", choice("model", MODEL_NAMES));
  set("dataset", choice("dataset", DATASET_NAMES));
  set("stem", choice("stem", STEM_NAMES));
  set("optimizer", choice("optimizer", OPTIMIZER_NAMES));
  set("schedule", choice("schedule", SCHEDULE_NAMES));
  set("dataDir", text("data-dir"));
  set("imageSize", integer("image-size"));
  set("limitTrain", integer("limit-train"));
  set("limitTest", integer("limit-test"));
  set("epochs", integer("epochs"));
  set("batchSize", integer("batch-size"));
  set("lr", number("lr"));
  set("momentum", number("momentum"));
  set("weightDecay", number("weight-decay"));
  set("stepSize", integer("step-size"));
  set("gamma", number("gamma"));
  set("labelSmoothing", number("label-smoothing"));
  set("seed", integer("seed", 0));
  set("device", text("device"));
  set("out", text("out"));
  set("logEvery", integer("log-every"));
  if (values.resume) options.resume = true;
  // Nothing is read from disk yet: a new run's options are checked with their defaults, a resumed
  // run's against the field rules only (its config.json supplies the rest).
  if (options.resume) checkOptions(options);
  else validateConfig(resolveConfig(options));
  return { help: values.help === true, options };
}

async function main(args: string[]): Promise<number> {
  const { help, options } = parseTrainArgs(args);
  if (help) {
    console.log(TRAIN_USAGE);
    return 0;
  }
  const controller = new AbortController();
  const release = abortOnSigint(controller, () => {
    console.error("\ninterrupt: saving a checkpoint after this step (Ctrl-C again to quit without saving)");
  });
  try {
    const result = await train(options, { signal: controller.signal });
    return result.interrupted ? 130 : 0;
  } finally {
    release();
  }
}

if (import.meta.main) await runMain(main);
