/**
 * scripts/train.ts on a tiny digits subset: the files it writes, exact resumption (after an epoch,
 * mid-epoch, and after a real Ctrl-C), memory, divergence handling, and its command line.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createModel, loadWeights, memory } from "../mod.ts";
import { parseTrainArgs, train, type TrainOptions, type TrainResult } from "../scripts/train.ts";
import { peekTrainingState } from "../scripts/lib/checkpoint.ts";
import { type MetricsRecord, parseMetrics } from "../scripts/lib/metrics.ts";
import { poisonedRun } from "./helpers/poisoned_run.ts";
import {
  type CommandOutput,
  errorLines,
  lazyTempDir,
  type Permission,
  readSafetensorsHeader,
  runDeno,
  testWith,
} from "./helpers.ts";

const PERMISSIONS: Permission[] = ["read", "write", "ffi", "env"];
const SCRIPT = new URL("../scripts/train.ts", import.meta.url).pathname;

/** 48 training images in batches of 16 at 16x16: 3 steps per epoch, 2 epochs (lr pinned, not the default). */
const TINY: TrainOptions = {
  lr: 0.001,
  limitTrain: 48,
  limitTest: 32,
  batchSize: 16,
  imageSize: 16,
  epochs: 2,
  logEvery: 2,
  device: "cpu",
};
const TINY_FLAGS = [
  "--lr=0.001",
  "--limit-train=48",
  "--limit-test=32",
  "--batch-size=16",
  "--image-size=16",
  "--epochs=2",
  "--device=cpu",
];
const quiet = { log: () => {}, progress: false };

/** A temporary folder for this file's runs, made on first use (tests without permissions skip). */
const root = lazyTempDir("train_test_");
let dirCount = 0;
const freshDir = (): string => join(root(), `run${dirCount++}`);

/** The uninterrupted 2-epoch run every resume test compares with, and the memory it used per step. */
let baseline: Promise<{ dir: string; result: TrainResult; memoryPerStep: { tensors: number; bytes: number }[] }>;
function straightRun(): typeof baseline {
  baseline ??= (async () => {
    const dir = freshDir();
    const memoryPerStep: { tensors: number; bytes: number }[] = [];
    const result = await train({ ...TINY, out: dir }, {
      ...quiet,
      onStep: () => memoryPerStep.push({ tensors: memory().cpu.tensors, bytes: memory().cpu.bytes }),
    });
    return { dir, result, memoryPerStep };
  })();
  return baseline;
}

const TIME_FIELDS = new Set([
  "ms",
  "imagesPerSecond",
  "seconds",
  "trainSeconds",
  "evalSeconds",
  "trainImagesPerSecond",
  "evalImagesPerSecond",
]);

/** Records without resume markers and timings: what must match between runs. */
function comparable(records: readonly MetricsRecord[], types = ["step", "epoch"]): Record<string, unknown>[] {
  return records.filter((r) => types.includes(r.type)).map((r) =>
    Object.fromEntries(Object.entries(r).filter(([key]) => !TIME_FIELDS.has(key)))
  );
}

async function readRecords(dir: string): Promise<MetricsRecord[]> {
  return parseMetrics(await Deno.readTextFile(join(dir, "metrics.jsonl")), dir);
}

/** Asserts that two safetensors files hold the same tensors, bit for bit (metadata aside). */
async function assertSameTensors(actual: string, expected: string): Promise<void> {
  const [a, e] = await Promise.all([Deno.readFile(actual), Deno.readFile(expected)]);
  const [sa, se] = [readSafetensorsHeader(a), readSafetensorsHeader(e)];
  delete sa.header.__metadata__;
  delete se.header.__metadata__;
  assert.deepEqual(sa.header, se.header, `${actual}: tensor names, dtypes or shapes differ from ${expected}`);
  // The header is padded to 8 bytes, so the data sections are aligned for a word-wise compare.
  const words = (bytes: Uint8Array, start: number): Int32Array =>
    new Int32Array(bytes.buffer, bytes.byteOffset + start, (bytes.length - start) / 4);
  const [wa, we] = [words(a, sa.dataStart), words(e, se.dataStart)];
  assert.equal(wa.length, we.length);
  let firstDifference = -1;
  for (let i = 0; i < wa.length; i++) {
    if (wa[i] !== we[i]) {
      firstDifference = i;
      break;
    }
  }
  assert.equal(firstDifference, -1, `${actual}: data differs from ${expected} at byte ${4 * firstDifference}`);
}

/** Asserts that a run in `dir` ended exactly like the straight run. */
async function assertSameAsStraight(dir: string, result: TrainResult, stepRecords = true): Promise<void> {
  const straight = await straightRun();
  assert.deepEqual(comparable(result.epochs), comparable(straight.result.epochs));
  const types = stepRecords ? ["step", "epoch"] : ["epoch"];
  assert.deepEqual(comparable(await readRecords(dir), types), comparable(await readRecords(straight.dir), types));
  await assertSameTensors(join(dir, "last.safetensors"), join(straight.dir, "last.safetensors"));
  await assertSameTensors(join(dir, "last.state.safetensors"), join(straight.dir, "last.state.safetensors"));
  await assertSameTensors(join(dir, "best.safetensors"), join(straight.dir, "best.safetensors"));
}

const runTrainScript = (args: string[]): Promise<CommandOutput> => runDeno(["run", "-A", SCRIPT, ...args]);

testWith("train() writes config, metrics, curves and checkpoints that all parse", PERMISSIONS, async () => {
  const { dir, result } = await straightRun();
  assert.equal(result.interrupted, false);
  assert.equal(result.step, 6);
  assert.deepEqual(result.epochs.map((e) => e.epoch), [1, 2]);

  const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  assert.deepEqual(names, [
    "best.safetensors",
    "checkpoint.json",
    "config.json",
    "curves.svg",
    "generations",
    "last.safetensors",
    "last.state.safetensors",
    "metrics.jsonl",
  ]); // and no temporary files (nor the lock) left behind

  const config = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
  assert.equal(config.model, "epsanet50");
  assert.equal(config.imageSize, 16);
  assert.equal(config.lr, 0.001);
  assert.equal(config.out, dir);

  const lines = (await Deno.readTextFile(join(dir, "metrics.jsonl"))).trimEnd().split("\n");
  const records = lines.map((line) => JSON.parse(line));
  assert.ok(records.every((r) => r.type === "step" || r.type === "epoch"));
  assert.equal(records.filter((r) => r.type === "epoch").length, 2);
  const step = records.find((r) => r.type === "step");
  for (const key of ["loss", "top1", "lr", "ms", "imagesPerSecond"]) assert.equal(typeof step[key], "number", key);
  const epoch = records.find((r) => r.type === "epoch");
  for (const key of ["trainLoss", "trainTop1", "testLoss", "testTop1", "testTop5", "seconds"]) {
    assert.ok(Number.isFinite(epoch[key]), key);
  }

  const svg = await Deno.readTextFile(join(dir, "curves.svg"));
  assert.ok(svg.startsWith("<svg"));
  assert.ok(svg.trimEnd().endsWith("</svg>"));

  // Weights only, with PyTorch names and the metadata eval.ts needs; optimiser state elsewhere.
  const model = createModel("epsanet50", { numClasses: 10, stem: "imagenet" });
  const { metadata } = await loadWeights(join(dir, "last.safetensors"), model);
  assert.equal(metadata.model, "epsanet50");
  assert.equal(metadata.image_size, "16");
  assert.equal(metadata.epoch, "2");
  assert.deepEqual(JSON.parse(metadata.classes), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.equal(JSON.parse(metadata.config).batchSize, 16);
  await loadWeights(join(dir, "best.safetensors"), model);
  const parameters = model.parameters().length;
  model.dispose();

  const { header } = readSafetensorsHeader(await Deno.readFile(join(dir, "last.state.safetensors")));
  const optimizerKeys = Object.keys(header).filter((key) => key.startsWith("optimizer."));
  assert.equal(optimizerKeys.length, 2 * parameters); // Adam's exp_avg and exp_avg_sq
  assert.equal(JSON.parse((header.__metadata__ as Record<string, string>).optimizer).type, "Adam");
  const state = await peekTrainingState(join(dir, "last.state.safetensors"));
  assert.equal(state.epochsDone, 2);
  assert.equal(state.step, 6);
  assert.equal(state.metricsCount, records.length);
});

testWith("train() holds memory steady from step to step", PERMISSIONS, async () => {
  const { memoryPerStep } = await straightRun();
  assert.equal(memoryPerStep.length, 6);
  // Step 1 creates Adam's moment buffers; after that nothing may accumulate, across epochs too.
  for (const m of memoryPerStep.slice(2)) assert.deepEqual(m, memoryPerStep[1]);
});

testWith("train() resumed after epoch 1 matches an uninterrupted run bit for bit", PERMISSIONS, async () => {
  const dir = freshDir();
  const controller = new AbortController();
  const first = await train({ ...TINY, out: dir }, {
    ...quiet,
    signal: controller.signal,
    onEpoch: () => controller.abort(), // as if Ctrl-C came during the epoch's evaluation
  });
  assert.equal(first.interrupted, true);
  assert.equal(first.epochs.length, 1);
  const state = await peekTrainingState(join(dir, "last.state.safetensors"));
  assert.deepEqual([state.epochsDone, state.batchesDone, state.step], [1, 0, 3]);
  const result = await train({ out: dir, resume: true }, quiet);
  await assertSameAsStraight(dir, result);
  const records = await readRecords(dir);
  assert.deepEqual(records.filter((r) => r.type === "resume").map((r) => [r.epoch, r.batch]), [[1, 0]]);
});

testWith("train() --resume with more --epochs trains on", PERMISSIONS, async () => {
  const dir = freshDir();
  await train({ ...TINY, epochs: 1, limitTrain: 16, out: dir }, quiet);
  const result = await train({ out: dir, resume: true, epochs: 2 }, quiet);
  assert.equal(result.config.epochs, 2);
  assert.deepEqual(result.epochs.map((e) => [e.epoch, e.step]), [[1, 1], [2, 2]]);
  const config = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
  assert.equal(config.epochs, 2);
});

testWith("train() interrupted mid-epoch resumes exactly, twice", PERMISSIONS, async () => {
  const dir = freshDir();
  const stopAt = (step: number) => {
    const controller = new AbortController();
    return {
      ...quiet,
      signal: controller.signal,
      onStep: (s: { step: number }) => s.step === step && controller.abort(),
    };
  };
  const first = await train({ ...TINY, out: dir }, stopAt(2)); // epoch 1, batch 2 of 3
  assert.equal(first.interrupted, true);
  assert.equal(first.epochs.length, 0);
  const state = await peekTrainingState(join(dir, "last.state.safetensors"));
  assert.deepEqual([state.epochsDone, state.batchesDone, state.step], [0, 2, 2]);

  const second = await train({ out: dir, resume: true }, stopAt(4)); // epoch 2, batch 1 of 3
  assert.equal(second.interrupted, true);
  assert.equal(second.epochs.length, 1);

  const result = await train({ out: dir, resume: true }, quiet);
  assert.equal(result.interrupted, false);
  await assertSameAsStraight(dir, result);
});

testWith("train() stops on a NaN loss and leaves the last checkpoint untouched", PERMISSIONS, async () => {
  const dir = freshDir();
  const run = poisonedRun({ ...TINY, out: dir }, quiet, { step: 5, tensor: "fc.weight", value: NaN });
  await assert.rejects(run.attempt, /Loss became NaN at epoch 2, batch 2 \(step 5.*last checkpoint .* is untouched/);
  await run.assertCheckpointUntouched();
  const state = await peekTrainingState(join(dir, "last.state.safetensors"));
  assert.deepEqual([state.epochsDone, state.batchesDone], [1, 0]);
});

testWith("train.ts exits 1 with a clear message when --lr 1e30 diverges", [...PERMISSIONS, "run"], async () => {
  const dir = freshDir();
  const { code, stdout, stderr } = await runTrainScript([...TINY_FLAGS, "--lr=1e30", `--out=${dir}`]);
  assert.equal(code, 1, stdout + stderr);
  const lines = errorLines(stderr);
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0], /^error: Loss became (NaN|Infinity|-Infinity) at epoch 1, batch \d+ .*lower --lr/);
  assert.equal(await Deno.stat(join(dir, "last.safetensors")).catch(() => null), null);
});

testWith("train.ts saves a resumable checkpoint on Ctrl-C", [...PERMISSIONS, "run"], async () => {
  const dir = freshDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...TINY_FLAGS, "--log-every=1", `--out=${dir}`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderrText = new Response(child.stderr).text();
  let stdout = "";
  let interrupted = false;
  const decoder = new TextDecoder();
  // Keep reading to the end: a closed pipe would make the child's last lines fail.
  for await (const chunk of child.stdout) {
    stdout += decoder.decode(chunk, { stream: true });
    if (!interrupted && /epoch 2\/2 step 1\/3/.test(stdout)) {
      child.kill("SIGINT");
      interrupted = true;
    }
  }
  const status = await child.status;
  const stderr = await stderrText;
  assert.equal(status.code, 130, stdout + stderr);
  assert.match(stdout, /interrupted: checkpoint saved at epoch 2, batch [1-3]\/3/);
  assert.match(stderr, /interrupt: saving a checkpoint/);
  const state = await peekTrainingState(join(dir, "last.state.safetensors"));
  assert.equal(state.epochsDone, 1);
  assert.ok(state.batchesDone >= 1, `batches done: ${state.batchesDone}`);

  const result = await train({ out: dir, resume: true }, quiet);
  await assertSameAsStraight(dir, result, false); // --log-every differs, so only epoch records compare
});

testWith("train.ts refuses to overwrite a run and conflicting flags on --resume", [...PERMISSIONS, "run"], async () => {
  const { dir } = await straightRun();
  const cases: [string[], RegExp][] = [
    [[...TINY_FLAGS, `--out=${dir}`], /already holds a run; pass --resume to continue it, or choose another --out/],
    [[`--out=${dir}`, "--resume", "--lr=0.01"], /--lr 0\.01 conflicts with .*config\.json \(0\.001\)/],
    [[`--out=${dir}`, "--resume", "--model=resnet50"], /--model resnet50 conflicts/],
    [[`--out=${dir}`, "--resume", "--epochs=1"], /--epochs 1 is less than the 2 epochs/],
    [[`--out=${join(root(), "nothing-here")}`, "--resume"], /holds no run/],
  ];
  for (const [args, pattern] of cases) {
    const { code, stdout, stderr } = await runTrainScript(args);
    assert.equal(code, 2, `${args.join(" ")}: ${stdout}${stderr}`);
    const lines = errorLines(stderr);
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], /^error: /);
    assert.match(lines[0], pattern);
  }
});

testWith("train.ts exits 2 with one error line for each bad argument", ["read", "run"], async () => {
  const cases: string[][] = [
    ["--epochs", "0"],
    ["--epochs", "-1"],
    ["--epochs", "1.5"],
    ["--epochs", "two"],
    ["--epochs"],
    ["--model", "vgg16"],
    ["--dataset", "svhn"],
    ["--lr", "0"],
    ["--lr", "-0.1"],
    ["--lr", "NaN"],
    ["--lr", "Infinity"],
    ["--lr", ""],
    ["--label-smoothing", "1"],
    ["--label-smoothing", "-0.1"],
    ["--image-size", "4"],
    ["--batch-size", "0"],
    ["--optimizer", "rmsprop"],
    ["--schedule", "linear"],
    ["--stem", "tiny"],
    ["--device", "tpu"],
    ["--momentum", "0.9"],
    ["--optimizer", "sgd", "--momentum", "1.5"],
    ["--weight-decay", "-1"],
    ["--limit-train", "0"],
    ["--seed", "-3"],
    ["--gamma", "0.5"],
    ["--log-every", "0"],
    ["--bogus"],
    ["stray-argument"],
  ];
  const results = [];
  for (let i = 0; i < cases.length; i += 4) {
    results.push(...await Promise.all(cases.slice(i, i + 4).map((args) => runTrainScript(args))));
  }
  results.forEach(({ code, stdout, stderr }, i) => {
    const label = cases[i].join(" ");
    assert.equal(code, 2, `${label}: exit ${code}, ${stdout}${stderr}`);
    assert.equal(stdout, "", label);
    const lines = stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, `${label}: ${stderr}`);
    assert.match(lines[0], /^error: \S/, label);
  });
});

testWith("parseTrainArgs() reads every flag and keeps unset ones out", [], () => {
  const { help, options } = parseTrainArgs([
    "--model=resnet50",
    "--dataset=cifar10",
    "--epochs=10",
    "--batch-size",
    "64",
    "--lr=1e-3",
    "--optimizer=sgd",
    "--momentum=0.8",
    "--weight-decay=5e-4",
    "--schedule=step",
    "--step-size=3",
    "--gamma=0.5",
    "--label-smoothing=0.1",
    "--image-size=224",
    "--stem=cifar",
    "--device=cuda",
    "--seed=7",
    "--out=runs/x",
    "--resume",
    "--limit-train=100",
    "--limit-test=50",
    "--log-every=5",
  ]);
  assert.equal(help, false);
  assert.deepEqual(options, {
    model: "resnet50",
    dataset: "cifar10",
    epochs: 10,
    batchSize: 64,
    lr: 0.001,
    optimizer: "sgd",
    momentum: 0.8,
    weightDecay: 5e-4,
    schedule: "step",
    stepSize: 3,
    gamma: 0.5,
    labelSmoothing: 0.1,
    imageSize: 224,
    stem: "cifar",
    device: "cuda",
    seed: 7,
    out: "runs/x",
    resume: true,
    limitTrain: 100,
    limitTest: 50,
    logEvery: 5,
  });
  assert.deepEqual(parseTrainArgs([]), { help: false, options: {} });
  // A negative value after a space reaches the range check, not parseArgs' "ambiguous" error.
  assert.throws(() => parseTrainArgs(["--epochs", "-1"]), /--epochs must be a positive integer, got "-1"/);
  assert.throws(() => parseTrainArgs(["--lr", "-.5"]), /--lr must be a finite number > 0, got -0.5/);
  assert.equal(parseTrainArgs(["--help"]).help, true);
});
