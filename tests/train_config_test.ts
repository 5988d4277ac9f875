/**
 * scripts/lib/train_config.ts: the defaults, the one validator of a run's config (each rule with
 * its one-line error, for a new config and for a config.json read back) and the resume merge.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkOptions,
  readSavedConfig,
  resolveConfig,
  resumeConfig,
  type TrainConfig,
  validateConfig,
} from "../scripts/lib/train_config.ts";
import { UsageError } from "../scripts/lib/args.ts";
import { testWith, withTempDir } from "./helpers.ts";

const valid = (): TrainConfig => resolveConfig({ out: "runs/x" });

/** Asserts that `fn` throws a one-line UsageError matching `pattern`. */
function assertUsageError(fn: () => unknown, pattern: RegExp, label: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError, `${label}: ${error}`);
    assert.equal(error.message.split("\n").length, 1, label);
    assert.match(error.message, pattern, label);
    return true;
  }, label);
}

Deno.test("resolveConfig() applies the defaults, per dataset too, and validates clean", () => {
  const config = valid();
  validateConfig(config);
  assert.equal(config.model, "epsanet50");
  assert.equal(config.schedule, "cosine");
  assert.equal(config.momentum, null);
  assert.equal(config.stepSize, null);
  const cifar = resolveConfig({ dataset: "cifar10", optimizer: "sgd", schedule: "step", epochs: 9 });
  validateConfig(cifar);
  assert.deepEqual([cifar.schedule, cifar.momentum, cifar.stepSize, cifar.gamma], ["step", 0.9, 3, 0.1]);
  assert.deepEqual(cifar.augmentation, { padding: 4, flipProbability: 0.5 });
  assert.equal(cifar.out, join("runs", "epsanet50-cifar10"));
});

Deno.test("validateConfig() gives one line naming the flag for each rule", () => {
  const cases: [Partial<Record<keyof TrainConfig, unknown>>, RegExp][] = [
    [{ model: "vgg16" }, /^--model must be epsanet50 or epsanet101 or resnet50, got "vgg16"$/],
    [{ stem: "tiny" }, /^--stem must be imagenet or cifar, got "tiny"$/],
    [{ dataset: "svhn" }, /^--dataset must be cifar10 or digits or mnist or fashion-mnist or folder, got "svhn"$/],
    [{ dataDir: 3 }, /^--data-dir must be a string, got 3$/],
    [{ imageSize: 4 }, /^--image-size must be an integer >= 8, got 4$/],
    [{ limitTrain: 0 }, /^--limit-train must be an integer >= 1, got 0$/],
    [{ limitTest: 1.5 }, /^--limit-test must be an integer >= 1, got 1.5$/],
    [{ epochs: 0 }, /^--epochs must be an integer >= 1, got 0$/],
    [{ batchSize: -2 }, /^--batch-size must be an integer >= 1, got -2$/],
    [{ optimizer: "rmsprop" }, /^--optimizer must be adam or sgd, got "rmsprop"$/],
    [{ lr: 0 }, /^--lr must be a finite number > 0, got 0$/],
    [{ lr: NaN }, /^--lr must be a finite number > 0, got NaN$/],
    [{ optimizer: "sgd", momentum: 1 }, /^--momentum must be in \[0, 1\), got 1$/],
    [{ weightDecay: -1 }, /^--weight-decay must be a finite number >= 0, got -1$/],
    [{ schedule: "linear" }, /^--schedule must be none or step or cosine, got "linear"$/],
    [{ schedule: "step", stepSize: 0, gamma: 0.1 }, /^--step-size must be an integer >= 1, got 0$/],
    [{ schedule: "step", stepSize: 1, gamma: 2 }, /^--gamma must be in \(0, 1\], got 2$/],
    [{ labelSmoothing: 1 }, /^--label-smoothing must be in \[0, 1\), got 1$/],
    [{ seed: -3 }, /^--seed must be an integer >= 0, got -3$/],
    [{ augmentation: { padding: -1, flipProbability: 0 } }, /^"augmentation" must be \{ padding/],
    [{ device: "tpu" }, /^--device must be auto, cpu or cuda, got "tpu"$/],
    [{ logEvery: 0 }, /^--log-every must be an integer >= 1, got 0$/],
    [{ out: " " }, /^--out must not be empty, got " "$/],
    [{ momentum: 0.9 }, /^--momentum applies to --optimizer sgd only$/],
    [{ stepSize: 2 }, /^--step-size and --gamma apply to --schedule step only$/],
    [{ gamma: 0.5 }, /^--step-size and --gamma apply to --schedule step only$/],
  ];
  for (const [change, pattern] of cases) {
    assertUsageError(() => validateConfig({ ...valid(), ...change } as TrainConfig), pattern, JSON.stringify(change));
  }
  const { seed: _, ...missing } = valid();
  assertUsageError(() => validateConfig(missing as TrainConfig), /^"seed" is missing$/, "missing");
});

Deno.test("checkOptions() applies the same rules to the options that are given", () => {
  checkOptions({});
  checkOptions({ epochs: 2, resume: true });
  assertUsageError(() => checkOptions({ epochs: 0 }), /^--epochs must be an integer >= 1, got 0$/, "epochs");
  assertUsageError(() => checkOptions({ lr: -0.5 }), /^--lr must be a finite number > 0, got -0.5$/, "lr");
});

Deno.test("resumeConfig() takes the four changeable options and refuses the rest", () => {
  const saved = valid();
  const merged = resumeConfig(saved, { epochs: 5, device: "cpu", logEvery: 3, dataDir: "/d", resume: true }, "o");
  assert.deepEqual(merged, { ...saved, epochs: 5, device: "cpu", logEvery: 3, dataDir: "/d", out: "o" });
  assertUsageError(
    () => resumeConfig(saved, { lr: 0.01 }, "runs/x"),
    /^--lr 0\.01 conflicts with runs\/x\/config\.json \(0\.002\); on --resume only/,
    "lr",
  );
  assert.deepEqual(resumeConfig(saved, { lr: saved.lr }, "runs/x"), saved);
});

testWith("readSavedConfig() validates config.json with the same rules", ["read", "write"], async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "config.json");
    await Deno.writeTextFile(path, JSON.stringify(valid()));
    assert.deepEqual(await readSavedConfig(path), valid());
    await Deno.writeTextFile(path, JSON.stringify({ ...valid(), optimizer: "adam", momentum: 0.9 }));
    await assert.rejects(
      readSavedConfig(path),
      /config\.json is not a valid run config \(--momentum applies to --optimizer sgd only\); the run folder is damaged/,
    );
    await Deno.writeTextFile(path, "{");
    await assert.rejects(readSavedConfig(path), /^Error: Cannot read .*config\.json: .*; the run folder is damaged/);
  });
});
