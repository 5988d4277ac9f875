/**
 * The profiler: every kernel and memory method of a device is timed, and `stop()` restores them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cpu, CpuDevice } from "../nn/cpu/device.ts";
import * as F from "../nn/functional.ts";
import { profileDevice } from "../nn/profile.ts";
import { tensor } from "../nn/creation.ts";

/** Methods that are not kernels or memory calls, so the profiler leaves them alone. */
const UNTIMED = new Set(["constructor", "describe", "memory", "resetPeakMemory", "emptyCache", "synchronize"]);

Deno.test("profileDevice() wraps every kernel of the CPU device and stop() restores them", () => {
  const methods = Object.getOwnPropertyNames(CpuDevice.prototype).filter((m) => !UNTIMED.has(m));
  const profiler = profileDevice(cpu);
  try {
    for (const m of methods) assert.ok(Object.hasOwn(cpu, m), `${m} is timed`);
    const x = tensor([1, -2, 3, -4], [2, 2], { requiresGrad: true });
    F.crossEntropy(x.relu(), [0, 1]).backward();
    const kinds = profiler.entries().map((e) => e.kind);
    for (const kind of ["activation", "loss", "reduce", "memory", "transfer"] as const) {
      assert.ok(kinds.includes(kind), `a ${kind} entry in [${kinds}]`);
    }
  } finally {
    profiler.stop();
  }
  for (const m of methods) assert.ok(!Object.hasOwn(cpu, m), `${m} is restored`);
});
