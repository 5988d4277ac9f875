/**
 * `deno task bench`: times a full training step (forward, cross entropy, backward, Adam) and
 * inference (eval mode, no grad) after warm-up, for one or more configurations, and prints a table
 * or JSON lines with the field names of PyTorch's reference script (`train_step_ms`, `train_img_s`,
 * `infer_step_ms`, `infer_img_s`, `peak_train_bytes`).
 *
 * ```sh
 * deno task bench --model epsanet50,resnet50 --image-size 32 --batch-size 32
 * deno task bench --model epsanet50 --image-size 224 --batch-size 8 --json --profile
 * ```
 *
 * @module
 */

import {
  createModel,
  createOptimizer,
  type Device,
  evalStep,
  isModelName,
  MODEL_NAMES,
  type ModelName,
  profileDevice,
  type ProfileEntry,
  randn,
  resolveDevice,
  type Stem,
  STEM_NAMES,
  trainStep,
} from "../mod.ts";
import { parseChoice, parseFlags, parseInteger, runMain, UsageError } from "./lib/args.ts";
import { OLD_FLAG_NAMES, renameOldFlags } from "./lib/flag_aliases.ts";

/** One configuration to time. */
export interface BenchConfig {
  /** Network. */
  model: ModelName;
  /** Square input size. */
  imageSize: number;
  /** Batch size. */
  batch: number;
  /** Output classes. */
  classes: number;
  /** Stem of the network. */
  stem: Stem;
  /** Timed steps. */
  steps: number;
  /** Untimed steps first. */
  warmup: number;
  /** Also time each kind of kernel. */
  profile: boolean;
}

/** One measured configuration (field names follow `torch_reference.py`). */
export interface BenchResult {
  impl: "epsanet-deno";
  device: string;
  device_info: string;
  deno: string;
  model: ModelName;
  stem: Stem;
  classes: number;
  image_size: number;
  batch: number;
  steps: number;
  train_step_ms: number;
  train_img_s: number;
  infer_step_ms: number;
  infer_img_s: number;
  peak_train_bytes: number;
  profile?: { train: ProfileEntry[]; infer: ProfileEntry[] };
}

const round = (v: number, digits = 2): number => Number(v.toFixed(digits));

/**
 * Measures one configuration on a device.
 *
 * @param config What to run.
 * @param device Where to run it.
 * @returns The timings.
 * @example
 * ```ts
 * import { benchmark } from "./bench.ts";
 * import { cpu } from "../mod.ts";
 * const r = benchmark({ model: "resnet50", imageSize: 32, batch: 2, classes: 10, stem: "imagenet",
 *   steps: 1, warmup: 1, profile: false }, cpu);
 * console.log(r.train_img_s);
 * ```
 */
export function benchmark(config: BenchConfig, device: Device): BenchResult {
  const model = createModel(config.model, { numClasses: config.classes, stem: config.stem }).to(device);
  const optimizer = createOptimizer("adam", model.parameters(), { lr: 1e-3 });
  const images = randn([config.batch, 3, config.imageSize, config.imageSize], { device });
  const labels = Int32Array.from({ length: config.batch }, (_, i) => i % config.classes);
  // The steps of `deno task train` and `deno task eval`, each with its one device read.
  const train = (): void => void trainStep(model, optimizer, images, labels);
  const infer = (): void => void evalStep(model, images, labels);
  const timed = (step: () => void): { ms: number; profile?: ProfileEntry[] } => {
    for (let i = 0; i < config.warmup; i++) step();
    const profiler = config.profile ? profileDevice(device) : null;
    device.synchronize();
    const start = performance.now();
    for (let i = 0; i < config.steps; i++) step();
    device.synchronize();
    const ms = (performance.now() - start) / config.steps;
    const profile = profiler?.entries().map((e) => ({
      ...e,
      ms: round(e.ms / config.steps, 3),
      calls: e.calls / config.steps,
    }));
    profiler?.stop();
    return { ms, profile };
  };
  model.train();
  device.resetPeakMemory();
  const trained = timed(train);
  const peak = device.memory().peakAllocatedBytes;
  model.eval();
  const inferred = timed(infer);
  optimizer.dispose();
  model.dispose();
  images.dispose();
  return {
    impl: "epsanet-deno",
    device: device.name,
    device_info: device.describe(),
    deno: Deno.version.deno,
    model: config.model,
    stem: config.stem,
    classes: config.classes,
    image_size: config.imageSize,
    batch: config.batch,
    steps: config.steps,
    train_step_ms: round(trained.ms, 3),
    train_img_s: round((config.batch * 1000) / trained.ms),
    infer_step_ms: round(inferred.ms, 3),
    infer_img_s: round((config.batch * 1000) / inferred.ms),
    peak_train_bytes: peak,
    ...(config.profile ? { profile: { train: trained.profile!, infer: inferred.profile! } } : {}),
  };
}

const HELP = `Usage: deno task bench [options]

Times a training step (forward, loss, backward, Adam) and inference after warm-up.
Lists (comma-separated) run every combination.

Options:
  --model LIST        ${MODEL_NAMES.join(", ")} (default epsanet50)
  --image-size LIST   square input size (default 32)
  --batch-size LIST   batch size (default 32; --batch still works)
  --classes N         output classes (default 10)
  --stem NAME         ${STEM_NAMES.join(" | ")} (default ${STEM_NAMES[0]})
  --device NAME       auto | cpu | cuda (default auto)
  --steps N           timed steps (default 5)
  --warmup N          untimed steps first (default 2)
  --json              one JSON line per configuration
  --profile           time per kernel kind (conv fwd / bwd-data / bwd-filter, batch norm, gemm, ...)
  --help              this text`;

function positiveList(name: string, text: string): number[] {
  return text.split(",").map((part) => parseInteger(`--${name}`, part));
}

/**
 * Parses the command line into configurations.
 *
 * @param argv Arguments.
 * @returns The configurations, the device spec and output options; null for --help.
 * @throws {Error} On bad arguments (the message is one line).
 * @example
 * ```ts
 * import { parseBenchArgs } from "./bench.ts";
 * parseBenchArgs(["--model", "resnet50", "--batch-size", "8"]);
 * ```
 */
export function parseBenchArgs(
  argv: string[],
): { configs: BenchConfig[]; device: string; json: boolean } | null {
  const { values } = parseFlags(renameOldFlags(argv, OLD_FLAG_NAMES.bench), {
    model: { type: "string", default: "epsanet50" },
    "image-size": { type: "string", default: "32" },
    "batch-size": { type: "string", default: "32" },
    classes: { type: "string", default: "10" },
    stem: { type: "string", default: STEM_NAMES[0] },
    device: { type: "string", default: "auto" },
    steps: { type: "string", default: "5" },
    warmup: { type: "string", default: "2" },
    json: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) return null;
  const models = values.model.split(",");
  for (const m of models) {
    if (!isModelName(m)) throw new UsageError(`unknown --model "${m}"; use ${MODEL_NAMES.join(", ")}`);
  }
  const stem = parseChoice("--stem", values.stem, STEM_NAMES);
  if (!["auto", "cpu", "cuda"].includes(values.device) && !/^cuda:\d+$/.test(values.device)) {
    throw new UsageError(`--device must be auto, cpu or cuda, got "${values.device}"`);
  }
  const sizes = positiveList("image-size", values["image-size"]);
  const batches = positiveList("batch-size", values["batch-size"]);
  const classes = parseInteger("--classes", values.classes);
  const steps = parseInteger("--steps", values.steps);
  const warmup = parseInteger("--warmup", values.warmup, 0);
  const configs: BenchConfig[] = [];
  for (const model of models as ModelName[]) {
    for (const imageSize of sizes) {
      for (const batch of batches) {
        configs.push({ model, imageSize, batch, classes, stem, steps, warmup, profile: values.profile });
      }
    }
  }
  return { configs, device: values.device, json: values.json };
}

function formatTable(results: BenchResult[]): string {
  const rows = [
    ["model", "stem", "size", "batch", "train ms", "train img/s", "infer ms", "infer img/s", "peak MiB"],
    ...results.map((r) => [
      r.model,
      r.stem,
      String(r.image_size),
      String(r.batch),
      r.train_step_ms.toFixed(1),
      r.train_img_s.toFixed(1),
      r.infer_step_ms.toFixed(1),
      r.infer_img_s.toFixed(1),
      (r.peak_train_bytes / 2 ** 20).toFixed(0),
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows.map((row) => row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  "))
    .join("\n");
}

function formatProfile(r: BenchResult): string {
  const lines = [`${r.model} ${r.image_size}x${r.image_size} batch ${r.batch}: ms per step by kernel kind`];
  for (const phase of ["train", "infer"] as const) {
    const entries = r.profile![phase];
    const total = entries.reduce((s, e) => s + e.ms, 0);
    lines.push(`  ${phase}:`);
    for (const e of entries) {
      lines.push(
        `    ${e.kind.padEnd(16)} ${e.ms.toFixed(1).padStart(8)} ms  ${
          (100 * e.ms / total).toFixed(1).padStart(5)
        }%  ${e.calls} calls`,
      );
    }
  }
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseBenchArgs(argv);
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  if (!parsed) {
    console.log(HELP);
    return 0;
  }
  let device: Device;
  try {
    device = resolveDevice(parsed.device);
  } catch (error) {
    console.error(`error: ${(error instanceof Error ? error.message : String(error)).split("\n")[0]}`);
    return 1;
  }
  if (!parsed.json) console.log(device.describe());
  const results: BenchResult[] = [];
  for (const config of parsed.configs) {
    const result = benchmark(config, device);
    results.push(result);
    if (parsed.json) console.log(JSON.stringify(result));
    else if (config.profile) console.log(formatProfile(result));
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  if (!parsed.json) console.log(formatTable(results));
  return 0;
}

if (import.meta.main) await runMain(main);
