/**
 * scripts/eval.ts: agreement with the training run's own test metrics, the report's shape, and
 * refusal of damaged or mismatched checkpoints and of bad flags.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { evaluateCheckpoint, formatReport, parseEvalArgs } from "../scripts/eval.ts";
import { train, type TrainResult } from "../scripts/train.ts";
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
const SCRIPT = new URL("../scripts/eval.ts", import.meta.url).pathname;

/** A temporary folder for this file's runs, made on first use (tests without permissions skip). */
const root = lazyTempDir("eval_test_");

/** One epoch on 48 digits at 16x16, tested on 32: the checkpoint every test evaluates. */
let trained: Promise<{ dir: string; result: TrainResult }> | undefined;
function trainedRun(): Promise<{ dir: string; result: TrainResult }> {
  trained ??= (async () => {
    const dir = join(root(), "run");
    const result = await train(
      { limitTrain: 48, limitTest: 32, batchSize: 16, imageSize: 16, epochs: 1, device: "cpu", out: dir },
      { log: () => {}, progress: false },
    );
    return { dir, result };
  })();
  return trained;
}

const runEvalScript = (args: string[]): Promise<CommandOutput> => runDeno(["run", "-A", SCRIPT, ...args]);

/** Copies a safetensors file with its `__metadata__` changed by `edit` (the tensors stay as they are). */
async function withMetadata(
  source: string,
  target: string,
  edit: (metadata: Record<string, string>) => Record<string, string> | undefined,
): Promise<void> {
  const bytes = await Deno.readFile(source);
  const { header, headerLength: length } = readSafetensorsHeader(bytes);
  const metadata = edit(header.__metadata__ as Record<string, string>);
  if (metadata) header.__metadata__ = metadata;
  else delete header.__metadata__;
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + bytes.length - 8 - length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.fill(0x20, 8, 8 + padded);
  out.set(json, 8);
  out.set(bytes.subarray(8 + length), 8 + padded);
  await Deno.writeFile(target, out);
}

testWith("evaluateCheckpoint() reproduces the training run's test metrics", PERMISSIONS, async () => {
  const { dir, result } = await trainedRun();
  const last = result.epochs.at(-1)!;
  const report = await evaluateCheckpoint({
    checkpoint: join(dir, "last.safetensors"),
    limit: 32,
    batchSize: 16,
    device: "cpu",
    progress: false,
  });
  assert.equal(report.count, 32);
  assert.equal(report.model, "epsanet50");
  assert.equal(report.imageSize, 16);
  assert.equal(report.trainedEpochs, 1);
  assert.equal(report.top1, last.testTop1);
  assert.equal(report.top5, last.testTop5);
  assert.ok(Math.abs(report.loss - last.testLoss) <= 1e-6 * Math.abs(last.testLoss), `${report.loss}`);

  // The confusion matrix, per-class accuracy and top-1 tell the same story.
  assert.equal(report.confusion.flat().reduce((a, b) => a + b, 0), 32);
  const diagonal = report.confusion.reduce((sum, row, c) => sum + row[c], 0);
  assert.equal(diagonal / 32, report.top1);
  assert.equal(report.perClass.reduce((sum, c) => sum + c.count, 0), 32);
  for (const [c, entry] of report.perClass.entries()) {
    assert.equal(entry.name, String(c));
    assert.equal(entry.correct, report.confusion[c][c]);
    if (entry.count) assert.equal(entry.accuracy, entry.correct / entry.count);
  }
  const text = formatReport(report);
  assert.match(text, /digits test on cpu: 32 images, loss \d+\.\d{4}, top-1 \d+\.\d\d%, top-5/);
  assert.match(text, /confusion matrix/);
});

testWith("eval.ts --json prints one JSON object for a run folder", [...PERMISSIONS, "run"], async () => {
  const { dir, result } = await trainedRun();
  const { code, stdout, stderr } = await runEvalScript([
    "--checkpoint",
    dir,
    "--limit-test=32",
    "--batch-size=16",
    "--device=cpu",
    "--json",
  ]);
  assert.equal(code, 0, stderr);
  const lines = stdout.trimEnd().split("\n");
  assert.equal(lines.length, 1);
  const report = JSON.parse(lines[0]);
  assert.equal(report.checkpoint, join(dir, "best.safetensors"));
  assert.equal(report.top1, result.best!.top1);
  assert.equal(report.confusion.length, 10);
  assert.equal(report.perClass.length, 10);
});

testWith("eval.ts refuses damaged and mismatched checkpoints with exit 1", [...PERMISSIONS, "run"], async () => {
  const { dir } = await trainedRun();
  const good = join(dir, "last.safetensors");
  const truncated = join(root(), "truncated.safetensors");
  const bytes = await Deno.readFile(good);
  await Deno.writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const relabelled = join(root(), "relabelled.safetensors");
  await withMetadata(good, relabelled, (m) => ({ ...m, model: "resnet50" }));
  const otherStem = join(root(), "stem.safetensors");
  await withMetadata(good, otherStem, (m) => ({ ...m, stem: "cifar" }));
  const bare = join(root(), "bare.safetensors");
  await withMetadata(good, bare, () => undefined);
  const otherClasses = join(root(), "classes.safetensors");
  await withMetadata(good, otherClasses, (m) => ({ ...m, classes: JSON.stringify([..."abcdefghij"]) }));

  const cases: [string, RegExp][] = [
    [truncated, /^error: Invalid safetensors file .*truncated\.safetensors: .*out of range/],
    [relabelled, /^error: Checkpoint .* does not fit resnet50 .*missing keys .*unexpected keys/],
    [
      otherStem,
      /^error: Checkpoint .* does not fit epsanet50 \(cifar stem.*conv1\.weight is \[64,3,7,7\], model has \[64,3,3,3\]/,
    ],
    [bare, /^error: Checkpoint .* has no metadata/],
    [
      otherClasses,
      /^error: Checkpoint .* lists classes \(a, b, c, \.\.\.\) that differ from digits's \(0, 1, 2, \.\.\.\)/,
    ],
    [join(dir, "last.state.safetensors"), /^error: Checkpoint .* lacks "model" in its metadata/],
    [join(dir, "config.json"), /^error: Invalid safetensors file .*config\.json/],
    [join(root(), "missing.safetensors"), /^error: Cannot read checkpoint .*missing\.safetensors/],
  ];
  for (const [file, pattern] of cases) {
    const { code, stdout, stderr } = await runEvalScript(["--checkpoint", file, "--device=cpu", "--limit-test=16"]);
    assert.equal(code, 1, `${file}: ${stdout}${stderr}`);
    assert.equal(stdout, "");
    const lines = errorLines(stderr);
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], pattern);
  }
});

testWith("eval.ts exits 2 with one error line for each bad flag", ["read", "run"], async () => {
  const cases: string[][] = [
    [],
    ["--checkpoint"],
    ["--checkpoint", "x.safetensors", "--limit-test", "0"],
    ["--checkpoint", "x.safetensors", "--limit-test", "ten"],
    ["--checkpoint", "x.safetensors", "--batch-size", "-1"],
    ["--checkpoint", "x.safetensors", "--dataset", "imagenet"],
    ["--checkpoint", "x.safetensors", "--device", "tpu"],
    ["--checkpoint", "x.safetensors", "--bogus"],
    ["--checkpoint", "x.safetensors", "stray"],
  ];
  const results = await Promise.all(cases.map((args) => runEvalScript(args)));
  results.forEach(({ code, stdout, stderr }, i) => {
    const label = cases[i].join(" ") || "(no arguments)";
    assert.equal(code, 2, `${label}: ${stdout}${stderr}`);
    const lines = stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, `${label}: ${stderr}`);
    assert.match(lines[0], /^error: \S/, label);
  });
});

testWith("parseEvalArgs() reads every flag", [], () => {
  assert.deepEqual(
    parseEvalArgs([
      "--checkpoint=a.safetensors",
      "--dataset=cifar10",
      "--data-dir=/data",
      "--limit-test=5",
      "--batch-size=8",
      "--device=cpu",
      "--json",
    ]),
    {
      help: false,
      json: true,
      options: {
        checkpoint: "a.safetensors",
        dataset: "cifar10",
        dataDir: "/data",
        limit: 5,
        batchSize: 8,
        device: "cpu",
      },
    },
  );
  assert.equal(parseEvalArgs(["--help"]).help, true);
});
