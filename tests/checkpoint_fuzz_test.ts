/**
 * The short run of the checkpoint fuzzer (the long one: `deno task fuzz --cases N`): mutated
 * safetensors and torch.save files each load or fail with a clear one-line Error, quickly.
 */
import assert from "node:assert/strict";
import { fuzzCheckpoints } from "./fuzz/checkpoint_fuzz.ts";

Deno.test("checkpoint readers: 400 mutated safetensors and .pth files each load or give a clear one-line Error", () => {
  const report = fuzzCheckpoints(400, 12);
  assert.deepEqual(report.crashes, []);
  assert.equal(report.loaded + report.refused, 400);
  assert.ok(report.refused > 200, `only ${report.refused} of 400 mutations were refused: the mutations do too little`);
  // Each input is a few hundred bytes; anything near a second means unbounded work.
  assert.ok(report.slowestMs < 1000, `slowest case took ${report.slowestMs.toFixed(0)} ms`);
});
