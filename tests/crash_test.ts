/**
 * Crash test: `kill -9` a tiny training (scripts/train.ts in a child process) at random instants,
 * during checkpoint writes too, and after each kill check that the run folder holds one whole
 * committed checkpoint; then resume to the end and check every file. `CRASH_KILLS` sets the
 * number of kills (default 2, for CI; `deno task crash-test` runs many), `CRASH_SEED` the seed.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readSafetensors } from "../mod.ts";
import { peekTrainingState } from "../scripts/lib/checkpoint.ts";
import { parseMetrics } from "../scripts/lib/metrics.ts";
import { TEMP_NAME } from "../scripts/lib/run_lock.ts";
import { errorLines, granted, lazyTempDir, type Permission, testWith } from "./helpers.ts";

const PERMISSIONS: Permission[] = ["read", "write", "ffi", "env", "run"];
const SCRIPT = new URL("../scripts/train.ts", import.meta.url).pathname;
const FLAGS = [
  "--lr=0.001",
  "--limit-train=48",
  "--limit-test=16",
  "--batch-size=16",
  "--image-size=16",
  "--epochs=2",
  "--log-every=1",
  "--device=cpu",
];
const env = (name: string): string | undefined => granted("env") ? Deno.env.get(name) : undefined;
const KILLS = Number(env("CRASH_KILLS") ?? 2);
const SEED = Number(env("CRASH_SEED") ?? Date.now() % 100_000);

/** A small seeded generator (mulberry32), so that a failing seed can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const exists = (path: string): Promise<boolean> => Deno.stat(path).then(() => true, () => false);

/** Starts a training (a resume once a config is there) and kills it after `ms` unless it ends first. */
async function trainAndKill(dir: string, ms: number): Promise<{ killed: boolean; code: number; stderr: string }> {
  const resume = await exists(join(dir, "config.json"));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...(resume ? ["--resume"] : FLAGS), `--out=${dir}`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, ms);
  const output = await child.output();
  clearTimeout(timer);
  return {
    killed: killed && output.signal === "SIGKILL",
    code: output.code,
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** The committed checkpoint is whole: the generation the pointer names is there, its two files agree. */
async function assertCommitted(dir: string, label: string): Promise<void> {
  const pointerPath = join(dir, "checkpoint.json");
  if (!await exists(pointerPath)) return; // killed before the first commit: nothing to keep yet
  const pointer = JSON.parse(await Deno.readTextFile(pointerPath));
  const state = await peekTrainingState(join(dir, "generations", `${pointer.last}.state.safetensors`));
  const weights = await readSafetensors(join(dir, "generations", `${pointer.last}.safetensors`));
  for (const t of Object.values(weights.tensors)) t.dispose();
  assert.equal(state.checkpointId, pointer.last, `${label}: state of another checkpoint`);
  assert.equal(weights.metadata.checkpoint_id, pointer.last, `${label}: weights of another checkpoint`);
}

testWith(`training killed at random instants always resumes (${KILLS} kills, seed ${SEED})`, PERMISSIONS, async () => {
  const next = random(SEED);
  const dir = join(lazyTempDir("crash_test_")(), "run");
  let kills = 0;
  for (let i = 0; i < KILLS; i++) {
    const ms = 1500 + next() * 9000; // startup takes a second or more; then a few steps and writes
    const run = await trainAndKill(dir, ms);
    const label = `seed ${SEED}, kill ${i + 1} after ${ms.toFixed(0)} ms`;
    if (!run.killed) {
      assert.equal(run.code, 0, `${label}: ${errorLines(run.stderr).join("\n")}`);
      break; // the run finished before the kill
    }
    kills++;
    await assertCommitted(dir, label);
  }
  const last = await trainAndKill(dir, 600_000);
  assert.equal(last.code, 0, `seed ${SEED}, final resume: ${errorLines(last.stderr).join("\n")}`);

  await assertCommitted(dir, `seed ${SEED}, end`);
  const state = await peekTrainingState(join(dir, "last.state.safetensors"));
  assert.equal(state.epochsDone, 2);
  assert.equal(state.step, 6);
  const published = await readSafetensors(join(dir, "last.safetensors"));
  for (const t of Object.values(published.tensors)) t.dispose();
  assert.equal(published.metadata.checkpoint_id, state.checkpointId);
  const records = parseMetrics(await Deno.readTextFile(join(dir, "metrics.jsonl")), "metrics.jsonl");
  assert.deepEqual(records.filter((r) => r.type === "epoch").map((r) => r.epoch), [1, 2]);
  assert.deepEqual(
    records.filter((r) => r.type === "step").map((r) => r.step),
    [1, 2, 3, 4, 5, 6],
    "each step recorded once",
  );
  for (const folder of [dir, join(dir, "generations")]) {
    for await (const entry of Deno.readDir(folder)) {
      assert.ok(!TEMP_NAME.test(entry.name), `${entry.name} left in ${folder}`);
    }
  }
  assert.ok(!await exists(join(dir, "train.lock")), "lock released");
  console.log(`crash test: ${kills} kills, seed ${SEED}`);
});
