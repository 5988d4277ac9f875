/**
 * Safety of scripts/train.ts and the other scripts on short real runs: divergence stops the run
 * without saving, metrics stay readable, compare refuses to overwrite others' files, one name per
 * option.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { train, type TrainOptions } from "../scripts/train.ts";
import { peekTrainingState } from "../scripts/lib/checkpoint.ts";
import { formatMetrics, parseMetrics } from "../scripts/lib/metrics.ts";
import { OLD_FLAG_NAMES, renameOldFlags } from "../scripts/lib/flag_aliases.ts";
import { evalGapWarning } from "../scripts/lib/eval_gap.ts";
import { poisonedRun } from "./helpers/poisoned_run.ts";
import { errorLines, lazyTempDir, type Permission, runDeno, testWith } from "./helpers.ts";

const PERMISSIONS: Permission[] = ["read", "write", "ffi", "env"];
const TRAIN = new URL("../scripts/train.ts", import.meta.url).pathname;

/** 48 training images in batches of 16 at 16x16: 3 steps per epoch, 2 epochs. */
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
const quiet = { log: () => {}, progress: false };
const root = lazyTempDir("train_safety_test_");
let dirCount = 0;
const freshDir = (): string => join(root(), `run${dirCount++}`);

testWith(
  "train() stops when eval diverges (NaN running stats), keeping the last finite checkpoint",
  PERMISSIONS,
  async () => {
    const dir = freshDir();
    // Train mode normalises with batch statistics, so the training loss stays finite; only
    // evaluation (running statistics) and the saved buffers see the NaN.
    const run = poisonedRun({ ...TINY, out: dir }, quiet, { step: 5, tensor: "bn1.running_mean", value: NaN });
    await assert.rejects(run.attempt, /^Error: Test loss became NaN at epoch 2; the run diverged; .*untouched/);
    await run.assertCheckpointUntouched();
    const state = await peekTrainingState(join(dir, "last.state.safetensors"));
    assert.deepEqual([state.epochsDone, state.best?.epoch], [1, 1]);
    parseMetrics(await Deno.readTextFile(join(dir, "metrics.jsonl")), "metrics.jsonl");
  },
);

testWith("train() refuses to save an interrupt checkpoint of non-finite weights", PERMISSIONS, async () => {
  const dir = freshDir();
  const controller = new AbortController();
  const attempt = train({ ...TINY, out: dir }, {
    ...quiet,
    signal: controller.signal,
    beforeStep: ({ step, model }) => {
      if (step !== 2) return;
      const mean = model.stateDict()["bn1.running_mean"];
      mean.device.write(mean.buffer, new Float32Array(mean.size).fill(Infinity));
      controller.abort();
    },
  });
  await assert.rejects(
    attempt,
    /Weights became non-finite \(bn1\.running_mean\) at epoch 1, batch 2; the run diverged/,
  );
  assert.equal(await Deno.stat(join(dir, "last.safetensors")).catch(() => null), null);
});

testWith("train.ts exits 1 with one line on the issue's sgd --lr 1e6 run, metrics readable", [
  ...PERMISSIONS,
  "run",
], async () => {
  const dir = freshDir();
  const { code, stdout, stderr } = await runDeno([
    "run",
    "-A",
    TRAIN,
    ...["--optimizer=sgd", "--lr=1e6", "--epochs=3", "--limit-train=32", "--limit-test=32", "--batch-size=32"],
    ...["--image-size=16", "--device=cpu", `--out=${dir}`],
  ]);
  assert.equal(code, 1, stdout + stderr);
  const lines = errorLines(stderr);
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0], /^error: (Test loss became NaN|Weights became non-finite|Loss became).*lower --lr/);
  for (const file of ["last.safetensors", "best.safetensors"]) {
    assert.equal(await Deno.stat(join(dir, file)).catch(() => null), null, `${file} written`);
  }
  const text = await Deno.readTextFile(join(dir, "metrics.jsonl")).catch(() => "");
  parseMetrics(text, "metrics.jsonl");
  assert.doesNotMatch(text, /null/);
});

Deno.test("formatMetrics refuses a non-finite field the reader requires, so it never writes null", () => {
  const record = { type: "resume" as const, epoch: 1, batch: 0, step: NaN, device: "cpu" };
  assert.throws(() => formatMetrics([record]), /non-finite "step"/);
  const good = formatMetrics([{ ...record, step: 3 }]);
  assert.equal(parseMetrics(good, "demo").length, 1);
});

const COMPARE = new URL("../scripts/compare.ts", import.meta.url).pathname;

testWith(
  "compare.ts refuses to overwrite a file it did not write unless --force",
  ["read", "write", "run"],
  async () => {
    const dir = freshDir();
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify({ model: "resnet50", dataset: "digits" }));
    await Deno.writeTextFile(
      join(dir, "metrics.jsonl"),
      formatMetrics([{ type: "resume", epoch: 0, batch: 0, step: 0, device: "cpu" }]),
    );
    const precious = join(root(), "last.safetensors");
    const note = join(root(), "notes.md");
    await Deno.writeTextFile(precious, "weights");
    await Deno.writeTextFile(note, "my notes\n");
    for (const args of [["--out", precious], ["--out", join(root(), "c.svg"), "--markdown", note]]) {
      const refused = await runDeno(["run", "-A", COMPARE, dir, ...args]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(errorLines(refused.stderr)[0], /exists and was not written by this script; pass --force/);
    }
    assert.equal(await Deno.readTextFile(precious), "weights");
    assert.equal(await Deno.readTextFile(note), "my notes\n");
    // Its own files are overwritten on a rerun; --force overwrites anything.
    const svg = join(root(), "own.svg");
    for (let i = 0; i < 2; i++) {
      const own = await runDeno(["run", "-A", COMPARE, dir, "--out", svg, "--markdown", join(root(), "own.md")]);
      assert.equal(own.code, 0, own.stderr);
    }
    const forced = await runDeno(["run", "-A", COMPARE, dir, "--out", precious, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok((await Deno.readTextFile(precious)).startsWith("<svg"));
  },
);

Deno.test("renameOldFlags maps old spellings to the one name, with one notice per name", () => {
  const notices: string[] = [];
  const argv = renameOldFlags(
    ["--limit", "5", "--limit=6", "--device=cpu", "--", "--limit"],
    OLD_FLAG_NAMES.eval,
    (l) => {
      notices.push(l);
    },
  );
  assert.deepEqual(argv, ["--limit-test", "5", "--limit-test=6", "--device=cpu", "--", "--limit"]);
  assert.deepEqual(notices, ["note: --limit is now called --limit-test; the old name still works"]);
  assert.equal(OLD_FLAG_NAMES.bench.batch, "batch-size");
});

testWith(
  "eval takes train's --limit-test (and --limit with a notice); bench takes --batch-size",
  ["read", "run"],
  async () => {
    const evalScript = new URL("../scripts/eval.ts", import.meta.url).pathname;
    const bench = new URL("../scripts/bench.ts", import.meta.url).pathname;
    // Both spellings reach the same value check: 0 is refused with the new name in the message.
    for (const flag of ["--limit-test", "--limit"]) {
      const { code, stderr } = await runDeno(["run", "-A", evalScript, "--checkpoint", "x.safetensors", flag, "0"]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /^error: --limit-test /m);
      assert.equal(/note: --limit is now called --limit-test/.test(stderr), flag === "--limit", stderr);
    }
    const help = await runDeno(["run", "-A", bench, "--help"]);
    assert.match(help.stdout + help.stderr, /--batch-size LIST/);
    const old = await runDeno(["run", "-A", bench, "--batch", "0"]);
    assert.match(old.stderr, /note: --batch is now called --batch-size/);
    assert.match(old.stderr, /error: --batch-size /);
  },
);

testWith(
  "--resume --epochs N larger: one note line, the cosine lr continues as if planned for N",
  PERMISSIONS,
  async () => {
    const dir = freshDir();
    await train({ ...TINY, epochs: 1, schedule: "cosine", out: dir }, quiet);
    const lines: string[] = [];
    const extended = await train({ out: dir, resume: true, epochs: 2, device: "cpu" }, {
      ...quiet,
      log: (l) => lines.push(l),
    });
    const notes = lines.filter((l) => l.startsWith("note:"));
    assert.equal(notes.length, 1, lines.join("\n"));
    assert.match(
      notes[0],
      /--epochs 2 changes the plan of 1 epochs: the cosine schedule continues as if planned for 2/,
    );
    assert.match(notes[0], /not bit-exact/);
    // Epoch 2 of the extended run uses the lr of a run planned for 2 epochs from the start: cos(pi/2) of it.
    const epoch2 = extended.epochs.find((e) => e.epoch === 2);
    assert.ok(epoch2 && Math.abs(epoch2.lr - 0.001 * 0.5) < 1e-9, `lr ${epoch2?.lr}`);
    const same: string[] = [];
    await train({ out: dir, resume: true, epochs: 2, device: "cpu" }, { ...quiet, log: (l) => same.push(l) });
    assert.equal(same.filter((l) => l.startsWith("note:")).length, 0, "no note when the plan is unchanged");
  },
);

Deno.test("evalGapWarning warns in one line only when test top-1 is far below train top-1", () => {
  const line = evalGapWarning(0.77, 0.1, 32);
  assert.ok(line !== null && !line.includes("\n"));
  assert.match(line, /^warning: test top-1 10\.00% is far below train top-1 77\.00% after 32 steps; batch-norm/);
  assert.equal(evalGapWarning(0.9, 0.85, 1000), null);
  assert.equal(evalGapWarning(NaN, 0.1, 1), null);
});

testWith("train() prints the eval-gap warning when eval lags train after a short run", PERMISSIONS, async () => {
  const lines: string[] = [];
  const result = await train({ ...TINY, epochs: 1, out: freshDir() }, { ...quiet, log: (l) => lines.push(l) });
  const [epoch] = result.epochs;
  const expected = evalGapWarning(epoch.trainTop1, epoch.testTop1, result.step);
  assert.deepEqual(lines.filter((l) => l.startsWith("warning:")), expected ? [expected] : []);
});
