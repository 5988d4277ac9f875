/**
 * A training that overwrites one state-dict tensor with a non-finite value before a given step,
 * keeping a copy of the checkpoint files as they stood after each epoch: the setup of the tests
 * that divergence leaves the last finite checkpoint untouched.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { train, type TrainOptions, type TrainRuntime } from "../../scripts/train.ts";

/** The files a finished epoch leaves, which a diverging run must not touch. */
const CHECKPOINT_FILES = ["last.safetensors", "last.state.safetensors", "best.safetensors"];

/**
 * Starts `train` with `tensor` filled with `value` before `step`.
 *
 * @param options The run (its `out` is the folder checked later).
 * @param runtime Extra runtime hooks (log, progress).
 * @param poison Which tensor, before which step, and the value.
 * @returns The training promise, and a check that the files equal their last epoch's copy.
 * @example
 * ```ts
 * const run = poisonedRun(options, quiet, { step: 5, tensor: "fc.weight", value: NaN });
 * await assert.rejects(run.attempt, /NaN/);
 * await run.assertCheckpointUntouched();
 * ```
 */
export function poisonedRun(
  options: TrainOptions & { out: string },
  runtime: TrainRuntime,
  poison: { step: number; tensor: string; value: number },
): { attempt: Promise<unknown>; assertCheckpointUntouched: () => Promise<void> } {
  let saved: Uint8Array[] = [];
  const attempt = train(options, {
    ...runtime,
    onEpoch: async () => {
      saved = await Promise.all(CHECKPOINT_FILES.map((f) => Deno.readFile(join(options.out, f))));
    },
    beforeStep: ({ step, model }) => {
      if (step !== poison.step) return;
      const t = model.stateDict()[poison.tensor];
      t.device.write(t.buffer, new Float32Array(t.size).fill(poison.value));
    },
  });
  const assertCheckpointUntouched = async () => {
    assert.equal(saved.length, CHECKPOINT_FILES.length);
    for (const [i, file] of CHECKPOINT_FILES.entries()) {
      assert.deepEqual(await Deno.readFile(join(options.out, file)), saved[i], `${file} changed`);
    }
  };
  return { attempt, assertCheckpointUntouched };
}
