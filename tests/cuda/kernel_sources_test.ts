/**
 * The .cu kernel sources: embedded copies, parameter lists against signatures.ts, nvcc and NVRTC compiles.
 *
 * @module
 */

import assert from "node:assert/strict";
import { KERNEL_MODULES } from "../../nn/cuda/embed.ts";
import { KERNEL_SOURCES } from "../../nn/cuda/kernels.ts";
import type { KernelArg } from "../../nn/cuda/signatures.ts";
import { granted, testWith } from "../helpers.ts";
import { assertSignatures, KERNELS_DIR, onPath, parseKernels, parsePtxEntries, testIf } from "./support.ts";

// ---------------------------------------------------------------------------------------------
// Kernel sources

testWith("kernels.ts embeds exactly the .cu files (regenerate with nn/cuda/embed.ts)", ["read"], () => {
  assert.deepEqual(Object.keys(KERNEL_SOURCES).sort(), [...KERNEL_MODULES].sort());
  for (const name of KERNEL_MODULES) {
    const file = Deno.readTextFileSync(new URL(`${name}.cu`, KERNELS_DIR));
    assert.equal(KERNEL_SOURCES[name], file, `${name}.cu differs from kernels.ts: run nn/cuda/embed.ts`);
  }
});

Deno.test("signatures.ts matches the C parameter lists of the .cu kernels", () => {
  const found = new Map(KERNEL_MODULES.map((m) => [m, parseKernels(KERNEL_SOURCES[m])]));
  assertSignatures(found, "source");
});

const nvcc = onPath("nvcc");
testIf(
  "every .cu compiles with nvcc -arch=sm_90 -ptx, with the parameters the launcher packs",
  !granted("run", "write") ? "needs --allow-run --allow-write" : nvcc ? "" : "nvcc not on PATH",
  () => {
    const dir = Deno.makeTempDirSync();
    try {
      const found = new Map<string, Map<string, KernelArg[]>>();
      for (const name of KERNEL_MODULES) {
        const out = `${dir}/${name}.ptx`;
        const result = new Deno.Command(nvcc!, {
          args: ["-arch=sm_90", "-ptx", "-o", out, new URL(`${name}.cu`, KERNELS_DIR).pathname],
          stdout: "piped",
          stderr: "piped",
        }).outputSync();
        assert.ok(result.success, `nvcc ${name}.cu: ${new TextDecoder().decode(result.stderr)}`);
        found.set(name, parsePtxEntries(Deno.readTextFileSync(out)));
      }
      assertSignatures(found, "nvcc PTX");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);
