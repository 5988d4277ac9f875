/**
 * scripts/perf.ts without measuring: the table it writes (one row per configuration and PyTorch)
 * and its command line. `deno task perf` itself is the end-to-end run.
 */

import assert from "node:assert/strict";
import { formatPerf, type Speed } from "../scripts/perf.ts";
import { runDeno, testWith } from "./helpers.ts";

const SCRIPT = new URL("../scripts/perf.ts", import.meta.url).pathname;

const speed = (train: number, infer: number, extra: Record<string, unknown> = {}): Speed => ({
  train_img_s: train,
  infer_img_s: infer,
  train_step_ms: 1000 / train,
  infer_step_ms: 1000 / infer,
  ...extra,
});

Deno.test("formatPerf() writes one row per configuration and PyTorch, with our speed over theirs", () => {
  const table = formatPerf(
    [{
      model: "epsanet50",
      imageSize: 32,
      batch: 32,
      ours: speed(60, 240),
      torch: [speed(50, 300, { torch: "1.13.0" }), speed(75, 200, { torch: "2.14.1" })],
    }],
    { machine: "test CPU, 2 cores", date: "2026-12-02", command: "deno task perf", versions: "Deno 2" },
  );
  const rows = table.split("\n").filter((line) => line.startsWith("| epsanet50"));
  assert.deepEqual(rows, [
    "| epsanet50 | 32x32 | 32 | 1.13.0 | 60.0 | 50.0 | 1.20x | 240.0 | 300.0 | 0.80x |",
    "| epsanet50 | 32x32 | 32 | 2.14.1 | 60.0 | 75.0 | 0.80x | 240.0 | 200.0 | 1.20x |",
  ]);
  assert.match(table, /^Measured 2026-12-02 on test CPU, 2 cores; Deno 2\.\nCommand: `deno task perf`/);
});

testWith("perf: --help exits 0, bad arguments exit 2 with one line on stderr", ["run", "read"], async () => {
  const help = await runDeno(["run", "-A", SCRIPT, "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno task perf/);
  for (
    const args of [["--rounds", "0"], ["--configs", "epsanet50:32"], ["--python", "/nonexistent/python"], ["--bogus"]]
  ) {
    const { code, stdout, stderr } = await runDeno(["run", "-A", SCRIPT, ...args]);
    assert.equal(code, 2, `${args}: exit code`);
    assert.equal(stdout, "");
    assert.match(stderr, /^error: [^\n]+\n$/, `${args}: ${stderr}`);
  }
});
