/**
 * Run folders that defend themselves (issue 15, items 1, 3, 6, 9, 10): checkpoints that commit
 * atomically, `--resume` that never overwrites results it cannot resume, stale temporaries
 * cleared at start, a failed first attempt that does not block its --out, and a lock so that two
 * trainings cannot write one folder. Small real runs on a tiny digits subset.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readSafetensors, writeSafetensors } from "../mod.ts";
import { train, type TrainOptions } from "../scripts/train.ts";
import { peekTrainingState } from "../scripts/lib/checkpoint.ts";
import { parseMetrics } from "../scripts/lib/metrics.ts";
import { TEMP_NAME } from "../scripts/lib/run_lock.ts";
import { lazyTempDir, type Permission, testWith } from "./helpers.ts";

const PERMISSIONS: Permission[] = ["read", "write", "ffi", "env"];

/** 48 training images in batches of 16 at 16x16: 3 steps per epoch. */
const TINY: TrainOptions = {
  lr: 0.001,
  limitTrain: 48,
  limitTest: 16,
  batchSize: 16,
  imageSize: 16,
  epochs: 2,
  logEvery: 1,
  device: "cpu",
};
const lines: string[] = [];
const quiet = { log: (line: string) => void lines.push(line), progress: false };

const root = lazyTempDir("run_safety_test_");
let dirCount = 0;
const freshDir = (): string => join(root(), `run${dirCount++}`);

/** A run interrupted after step `steps` (a committed mid-epoch checkpoint). */
async function interruptedRun(dir: string, steps: number): Promise<void> {
  const controller = new AbortController();
  const result = await train({ ...TINY, out: dir }, {
    ...quiet,
    signal: controller.signal,
    onStep: (s) => s.step >= steps && controller.abort(),
  });
  assert.equal(result.interrupted, true);
}

testWith(
  "a checkpoint write torn between its files still resumes from the last whole checkpoint",
  PERMISSIONS,
  async () => {
    const dir = freshDir();
    await interruptedRun(dir, 2);
    // What a crash in the middle of the next checkpoint write leaves: the new weights renamed into
    // place (the old code's ~2 s window) while the state still belongs to the previous checkpoint.
    const last = join(dir, "last.safetensors");
    const weights = await readSafetensors(last);
    await writeSafetensors(last, weights.tensors, { metadata: { ...weights.metadata, checkpoint_id: "4-0badc0de" } });
    for (const t of Object.values(weights.tensors)) t.dispose();
    await Deno.mkdir(join(dir, "generations"), { recursive: true });
    await Deno.writeTextFile(join(dir, "generations", "4-0badc0de.safetensors"), "half a generation");

    const result = await train({ out: dir, resume: true }, quiet);
    assert.equal(result.interrupted, false);
    assert.equal(result.step, 6);
    const state = await peekTrainingState(join(dir, "last.state.safetensors"));
    const published = await readSafetensors(last);
    assert.equal(published.metadata.checkpoint_id, state.checkpointId, "last.* republished as one checkpoint");
    for (const t of Object.values(published.tensors)) t.dispose();
    const pointer = JSON.parse(await Deno.readTextFile(join(dir, "checkpoint.json")));
    assert.equal(pointer.last, state.checkpointId);
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
    assert.deepEqual(names.filter((name) => TEMP_NAME.test(name)), [], "no temporary files left");
    const generations = (await Array.fromAsync(Deno.readDir(join(dir, "generations")))).map((e) => e.name).sort();
    const kept = new Set([pointer.last, pointer.best]);
    assert.deepEqual(generations, [...kept].flatMap((id) => [`${id}.safetensors`, `${id}.state.safetensors`]).sort());
  },
);

testWith("--resume without a checkpoint refuses and leaves the run's results as they were", PERMISSIONS, async () => {
  const dir = freshDir();
  await train({ ...TINY, epochs: 1, out: dir }, quiet);
  for (const file of ["checkpoint.json", "last.state.safetensors"]) {
    await Deno.remove(join(dir, file)).catch((error) => { // a layout without checkpoint.json: nothing to remove
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
  const kept = ["best.safetensors", "metrics.jsonl", "last.safetensors"];
  const before = await Promise.all(kept.map((f) => Deno.readFile(join(dir, f))));
  await assert.rejects(
    train({ out: dir, resume: true, epochs: 2 }, quiet),
    /^UsageError: --resume: .* has no checkpoint to resume from \(checkpoint\.json and last\.state\.safetensors are missing, but .* is there\); nothing was changed/,
  );
  for (const [i, file] of kept.entries()) {
    assert.deepEqual(await Deno.readFile(join(dir, file)), before[i], `${file} changed`);
  }
});

testWith("a checkpoint the pointer names but which is missing gives one line", PERMISSIONS, async () => {
  const dir = freshDir();
  await interruptedRun(dir, 1);
  const { last } = JSON.parse(await Deno.readTextFile(join(dir, "checkpoint.json")));
  await Deno.remove(join(dir, "generations", `${last}.state.safetensors`));
  await assert.rejects(
    train({ out: dir, resume: true }, quiet),
    /^CheckpointError: .*\.state\.safetensors is missing, though .*checkpoint\.json names its checkpoint; [^\n]*$/,
  );
});

testWith("training clears the temporary files that crashed writes left, and only those", PERMISSIONS, async () => {
  const dir = freshDir();
  await interruptedRun(dir, 1);
  const stale = [join(dir, ".last.safetensors.tmp-0123abcd"), join(dir, "generations", ".x.safetensors.tmp-deadbeef")];
  const others = [join(dir, "notes.tmp-0123abcd"), join(dir, ".draft.tmp-later")];
  await Deno.mkdir(join(dir, "generations"), { recursive: true });
  for (const path of [...stale, ...others]) await Deno.writeTextFile(path, "left over");
  await train({ out: dir, resume: true }, quiet);
  for (const path of stale) await assert.rejects(Deno.stat(path), Deno.errors.NotFound, `${path} kept`);
  for (const path of others) await Deno.stat(path); // not the project's pattern: not ours to remove
});

testWith("a run that fails before its first checkpoint does not block its --out", PERMISSIONS, async () => {
  const dir = freshDir();
  const failing = train({ ...TINY, out: dir }, {
    ...quiet,
    beforeStep: ({ step }) => {
      if (step === 2) throw new Error("simulated failure");
    },
  });
  await assert.rejects(failing, /simulated failure/);
  await Deno.stat(join(dir, "config.json")); // what used to make the folder "hold a run"
  lines.length = 0;
  // Another learning rate: the failed attempt's config must not conflict either.
  const result = await train({ ...TINY, lr: 0.002, epochs: 1, out: dir }, quiet);
  assert.equal(result.step, 3);
  assert.ok(lines.some((l) => /stopped before its first checkpoint; starting it over/.test(l)), lines.join("\n"));
  const records = parseMetrics(await Deno.readTextFile(join(dir, "metrics.jsonl")), "metrics.jsonl");
  assert.equal(records.filter((r) => r.type === "step").length, 3, "no steps of the failed attempt");
  assert.equal(JSON.parse(await Deno.readTextFile(join(dir, "config.json"))).lr, 0.002);
});

testWith("two trainings on one run folder cannot both write it", PERMISSIONS, async () => {
  const dir = freshDir();
  await interruptedRun(dir, 1);
  let second: Promise<unknown> | null = null;
  const first = train({ out: dir, resume: true }, {
    ...quiet,
    onStep: () => {
      // Started while the first one trains; its outcome is kept to be checked below.
      second ??= train({ out: dir, resume: true }, quiet).then(() => null, (error) => error);
    },
  });
  await first;
  const error = await second;
  assert.match(String(error), /^UsageError: .*train\.lock shows that process \d+ is training in this folder; wait/);
  await assert.rejects(Deno.stat(join(dir, "train.lock")), Deno.errors.NotFound, "lock released at the end");
});

testWith("a lock left by a process that is gone is taken over with a note", [...PERMISSIONS, "run"], async () => {
  const dir = freshDir();
  await interruptedRun(dir, 1);
  const live = new Deno.Command("sleep", { args: ["30"] }).spawn();
  await Deno.writeTextFile(join(dir, "train.lock"), `${live.pid}\n`);
  try {
    await assert.rejects(train({ out: dir, resume: true }, quiet), new RegExp(`process ${live.pid} is training`));
  } finally {
    live.kill("SIGKILL");
    await live.status;
  }
  // An id above Linux's largest pid_max (2^22) names no process.
  const child = { pid: 4194304 + 7 };
  await Deno.writeTextFile(join(dir, "train.lock"), `${child.pid}\n`);
  if (!procReadable()) {
    // Deno lets only --allow-all read /proc; without it nobody can tell, so the lock is kept.
    await assert.rejects(train({ out: dir, resume: true }, quiet), /is training in this folder/);
    return;
  }
  lines.length = 0;
  const result = await train({ out: dir, resume: true }, quiet);
  assert.equal(result.step, 6);
  assert.ok(lines.some((l) => l.includes(`taking over`) && l.includes(`process ${child.pid}, which is gone`)));
});

/** Whether this process may read /proc (Deno allows it only with --allow-all). */
function procReadable(): boolean {
  try {
    Deno.statSync("/proc/self");
    return true;
  } catch {
    return false;
  }
}
