/**
 * Discovery of the CUDA libraries without a GPU: one-line errors, candidate order, device fallback.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CUDA_SPECS, openCudaLibraries } from "../../ffi/cuda_libraries.ts";
import { libraryCandidates, LibraryNotFoundError } from "../../ffi/load.ts";
import { verbose } from "../../ffi/notice.ts";
import { sitePackages } from "../../ffi/places.ts";
import { cpu } from "../../nn/cpu/device.ts";
import { resolveDevice } from "../../nn/device_registry.ts";
import { assertThrows, granted } from "../helpers.ts";
import { GPU, LIBRARIES_FOUND, testIf } from "./support.ts";

// ---------------------------------------------------------------------------------------------
// Without a GPU: discovery, errors and fallback

testIf(
  "openCudaLibraries() throws one short line saying what is missing and how to get it",
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
    assert.ok(error instanceof LibraryNotFoundError, "expected a LibraryNotFoundError");
    assert.ok(!error.message.includes("\n"), "the message is one line");
    if (!verbose()) assert.ok(error.message.length < 250, `a short line: ${error.message}`);
    assert.match(error.message, /EPSANET_CUDA_LIBS/);
    assert.match(error.message, /EPSANET_VERBOSE=1 lists the \d+ places tried/);
    if (error.summary === "CUDA driver not found") {
      assert.match(error.message, /install the NVIDIA driver/);
      assert.doesNotMatch(error.message, /pip/, "no wheels to suggest without a driver");
    } else {
      assert.match(error.message, /^CUDA libraries not found: /);
      assert.match(error.message, /pip install nvidia-/);
    }
    assert.ok(error.tried.length > 0, "every place tried is kept");
    assert.ok(error.tried.some((place) => /\(absent\)|the loader path/.test(place)), error.tried.join("; "));
  },
);

testIf(
  "library candidates put EPSANET_CUDA_LIBS, CUDA_HOME and wheels before the loader path, never stubs",
  granted("env", "read") ? "" : "needs --allow-env --allow-read",
  () => {
    const saved = ["EPSANET_CUDA_LIBS", "CUDA_HOME"].map((k) => [k, Deno.env.get(k)] as const);
    const dir = Deno.makeTempDirSync();
    try {
      Deno.mkdirSync(`${dir}/stubs`);
      Deno.env.set("EPSANET_CUDA_LIBS", `${dir}:${dir}/stubs:/x/libcudnn.so.9`);
      Deno.env.set("CUDA_HOME", "/opt/cuda-test");
      const paths = (name: keyof typeof CUDA_SPECS) => libraryCandidates(CUDA_SPECS[name]).map((c) => c.path);
      const cudnn = paths("cudnn");
      assert.equal(cudnn[0], `${dir}/libcudnn.so.9`);
      assert.equal(cudnn[1], "/x/libcudnn.so.9", "a file entry is used as is");
      assert.ok(cudnn.every((p) => !p.includes("/stubs/")), "stub folders are skipped");
      const nvrtc = paths("nvrtc");
      assert.deepEqual(nvrtc.slice(0, 2), [`${dir}/libnvrtc.so.13`, `${dir}/libnvrtc.so.12`]);
      const home = nvrtc.indexOf("/opt/cuda-test/lib64/libnvrtc.so.13");
      const bare = nvrtc.indexOf("libnvrtc.so.13");
      assert.ok(home > 1 && bare > home, "CUDA_HOME before the loader path");
      for (const site of sitePackages()) {
        const wheel = nvrtc.indexOf(`${site}/nvidia/cu13/lib/libnvrtc.so.13`);
        assert.ok(wheel > home && wheel < bare, `wheel folder of ${site} between CUDA_HOME and ld.so`);
      }
      const driver = paths("driver");
      assert.equal(driver[0], `${dir}/libcuda.so.1`);
      assert.ok(!driver.some((p) => p.startsWith("/opt/cuda-test")), "the driver never comes from a toolkit");
    } finally {
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
      Deno.removeSync(dir, { recursive: true });
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
  if (!verbose()) assert.ok(message.length < 250, `a short line: ${message}`);
  if (/CUDA driver not found/.test(message)) assert.doesNotMatch(message, /pip/);
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
