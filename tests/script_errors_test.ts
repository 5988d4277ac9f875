/**
 * Every script reports a failure as one `error:` line, never an uncaught stack trace.
 *
 * @module
 */

import assert from "node:assert/strict";
import { errorLines, runDeno, testWith } from "./helpers.ts";

const script = (name: string): string => new URL(`../scripts/${name}.ts`, import.meta.url).pathname;

testWith(
  "bench --batch-size 1 at 32x32 fails with one line saying what to change",
  ["run", "read", "env", "ffi"],
  async () => {
    const { code, stderr } = await runDeno([
      "run",
      "--allow-all",
      script("bench"),
      "--batch-size",
      "1",
      "--steps",
      "1",
      "--warmup",
      "0",
      "--model",
      "resnet50",
    ]);
    const lines = errorLines(stderr);
    assert.equal(code, 1);
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], /^error: batchNorm\(\): .*use a batch of 2 or more/);
  },
);

testWith("summary --classes 1000000000 is refused in one line, exit 2", ["run", "read", "env", "ffi"], async () => {
  const { code, stderr } = await runDeno(["run", "--allow-all", script("summary"), "--classes", "1000000000"]);
  assert.equal(code, 2);
  assert.deepEqual(errorLines(stderr), ["error: --classes must be at most 1,000,000, got 1000000000"]);
});
