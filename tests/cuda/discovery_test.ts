/**
 * Discovery of the CUDA libraries without a GPU: one-line errors, candidate order, device fallback.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  cudaLibraryCandidates,
  CudaUnavailableError,
  openCudaLibraries,
  sitePackages,
} from "../../ffi/cuda_libraries.ts";
import { cpu } from "../../nn/cpu/device.ts";
import { resolveDevice } from "../../nn/device_registry.ts";
import { assertThrows, granted } from "../helpers.ts";
import { GPU, LIBRARIES_FOUND, testIf } from "./support.ts";

// ---------------------------------------------------------------------------------------------
// Without a GPU: discovery, errors and fallback

testIf(
  "openCudaLibraries() throws one line naming every place tried and the fix",
  LIBRARIES_FOUND
    ? "the CUDA libraries are found here"
    : granted("ffi", "env", "read")
    ? ""
    : "needs --allow-ffi --allow-env --allow-read",
  () => {
    let error: unknown;
    try {
      openCudaLibraries();
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof CudaUnavailableError, "expected a CudaUnavailableError");
    assert.ok(!error.message.includes("\n"), "the message is one line");
    assert.match(error.message, /^CUDA libraries not found: /);
    assert.match(error.message, /tried .*\(absent\)|tried .*the loader path/);
    assert.match(error.message, /To fix: .*EPSANET_CUDA_LIBS/);
    if (!/^CUDA driver not found$/.test(error.summary)) {
      assert.match(error.message, /pip install nvidia-/);
    }
    assert.match(error.summary, / not found$/);
  },
);

testIf(
  "library candidates put EPSANET_CUDA_LIBS, CUDA_HOME and wheels before the loader path, never stubs",
  granted("env", "read") ? "" : "needs --allow-env --allow-read",
  () => {
    const saved = ["EPSANET_CUDA_LIBS", "CUDA_HOME"].map((k) => [k, Deno.env.get(k)] as const);
    const dir = Deno.makeTempDirSync();
    try {
      Deno.env.set("EPSANET_CUDA_LIBS", `${dir}:/opt/cuda/lib64/stubs:/x/libcudnn.so.9`);
      Deno.env.set("CUDA_HOME", "/opt/cuda-test");
      const cudnn = cudaLibraryCandidates("cudnn");
      assert.equal(cudnn[0], `${dir}/libcudnn.so.9`);
      assert.equal(cudnn[1], "/x/libcudnn.so.9", "a file entry is used as is");
      assert.ok(cudnn.every((p) => !p.includes("/stubs/")), "stub folders are skipped");
      const nvrtc = cudaLibraryCandidates("nvrtc");
      assert.deepEqual(nvrtc.slice(0, 2), [`${dir}/libnvrtc.so.13`, `${dir}/libnvrtc.so.12`]);
      const home = nvrtc.indexOf("/opt/cuda-test/lib64/libnvrtc.so.13");
      const bare = nvrtc.indexOf("libnvrtc.so.13");
      assert.ok(home > 1 && bare > home, "CUDA_HOME before the loader path");
      for (const site of sitePackages()) {
        const wheel = nvrtc.indexOf(`${site}/nvidia/cu13/lib/libnvrtc.so.13`);
        assert.ok(wheel > home && wheel < bare, `wheel folder of ${site} between CUDA_HOME and ld.so`);
      }
      const driver = cudaLibraryCandidates("driver");
      assert.equal(driver[0], `${dir}/libcuda.so.1`);
      assert.ok(!driver.some((p) => p.startsWith("/opt/cuda-test")), "the driver never comes from a toolkit");
    } finally {
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
      Deno.removeSync(dir);
    }
  },
);

testIf('resolveDevice("cuda") throws one clear line without CUDA', GPU ? "CUDA works here" : "", () => {
  let message = "";
  try {
    resolveDevice("cuda");
  } catch (error) {
    message = (error as Error).message;
  }
  assert.ok(message.length > 0, "expected an error");
  assert.ok(!message.includes("\n"), `one line: ${message}`);
  assert.match(message, /--allow-ffi|not found|CUDA initialisation failed/);
  assertThrows(() => resolveDevice("cuda:0"), /--allow-ffi|not found|CUDA initialisation failed/);
  assertThrows(() => resolveDevice("cuda:1"), /Unknown device "cuda:1"/);
});

testIf('resolveDevice("auto") falls back to the CPU and says why once', GPU ? "CUDA works here" : "", () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    assert.equal(resolveDevice("auto"), cpu);
    assert.equal(resolveDevice("auto"), cpu);
  } finally {
    console.error = original;
  }
  assert.ok(lines.length <= 1, "at most one notice per process");
  for (const line of lines) assert.match(line, /^epsanet: CUDA unavailable \(.+\); using the CPU$/);
});
