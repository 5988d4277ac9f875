/**
 * The real library specs (OpenBLAS, oneDNN, the CUDA stack) and their callers: candidate order, the
 * notice texts, `none`, explicit paths that fail, missing permissions and OPENBLAS_CORETYPE. The
 * callers load once per process, so each case runs in a fresh `deno` with its own environment.
 *
 * @module
 */

import assert from "node:assert/strict";
import { OPENBLAS } from "../../ffi/cblas.ts";
import { CUDA_SPECS } from "../../ffi/cuda_libraries.ts";
import { ONEDNN } from "../../ffi/dnnl.ts";
import { fallBackNotice, libraryCandidates } from "../../ffi/load.ts";
import { testWith } from "../helpers.ts";

const ROOT = new URL("../../", import.meta.url);
const module = (path: string) => new URL(path, ROOT).href;

/** Runs `code` in a fresh deno with `env` on top of this environment minus every EPSANET_* variable and `unset`. */
function run(code: string, env: Record<string, string>, permissions = ["--allow-all"], unset: string[] = []): {
  ok: boolean;
  stdout: string;
  stderr: string[];
} {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("EPSANET_") && !unset.includes(k)),
  );
  // `deno eval` always has every permission; a script file runs with the ones given.
  const script = Deno.makeTempFileSync({ prefix: "epsanet-ffi-", suffix: ".ts" });
  Deno.writeTextFileSync(script, code);
  const output = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-check", ...permissions, script],
    env: { ...base, NO_COLOR: "1", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  Deno.removeSync(script);
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  return {
    ok: output.success,
    stdout: decode(output.stdout),
    stderr: decode(output.stderr).split("\n").filter(Boolean),
  };
}

const GEMM = `import { blasInfo } from "${module("nn/cpu/gemm.ts")}";`;
const ONEDNN_RUNTIME = `import { oneDnnInfo } from "${module("nn/cpu/onednn/runtime.ts")}";`;
const DEVICES = `import { resolveDevice } from "${module("mod.ts")}";`;

Deno.test("OpenBLAS and oneDNN are looked for on the loader path first, then in the standard folders", () => {
  const blas = libraryCandidates(OPENBLAS, "linux");
  assert.deepEqual(blas.slice(0, 5).map((c) => c.path), [
    "libopenblas.so.0",
    "libopenblas.so",
    "libcblas.so.3",
    "libblas.so.3",
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  ]);
  assert.deepEqual(libraryCandidates(ONEDNN, "linux").slice(0, 3).map((c) => c.path), [
    "libdnnl.so.2",
    "libdnnl.so.3",
    "/usr/lib/x86_64-linux-gnu/libdnnl.so.2",
  ]);
  assert.deepEqual(libraryCandidates(OPENBLAS, "darwin").map((c) => c.path).slice(0, 4), [
    "/System/Library/Frameworks/Accelerate.framework/Accelerate",
    "libopenblas.0.dylib",
    "libopenblas.dylib",
    "/opt/homebrew/opt/openblas/lib/libopenblas.0.dylib",
  ]);
  assert.deepEqual(libraryCandidates(CUDA_SPECS.driver, "darwin"), [], "no CUDA on macOS");
});

Deno.test("the fallback notices say what is missing, what runs instead and how to get the fast path", () => {
  assert.equal(
    fallBackNotice(OPENBLAS, "using the TypeScript GEMM", "linux"),
    "no OpenBLAS found; using the TypeScript GEMM (install libopenblas0-pthread for full speed; " +
      "EPSANET_VERBOSE=1 lists the places tried)",
  );
  assert.equal(
    fallBackNotice(ONEDNN, "using im2col + GEMM for convolutions", "linux"),
    "no oneDNN 2.x found; using im2col + GEMM for convolutions (install libdnnl2 for full speed; " +
      "EPSANET_VERBOSE=1 lists the places tried)",
  );
});

testWith("EPSANET_BLAS and EPSANET_ONEDNN paths that do not exist are errors, not a fallback", ["run", "write"], () => {
  const blas = run(`${GEMM} try { console.log(blasInfo().kind); } catch (e) { console.log(e.message); }`, {
    EPSANET_BLAS: "/nonexistent/libopenblas.so.0",
  });
  assert.equal(
    blas.stdout,
    "EPSANET_BLAS=/nonexistent/libopenblas.so.0: /nonexistent/libopenblas.so.0 does not exist; point " +
      "EPSANET_BLAS at the OpenBLAS library file or its folder, or set EPSANET_BLAS=none to do without it",
  );
  assert.deepEqual(blas.stderr, []);
  const dnn = run(`${ONEDNN_RUNTIME} try { console.log(oneDnnInfo().detail); } catch (e) { console.log(e.message); }`, {
    EPSANET_ONEDNN: "/nonexistent/libdnnl.so.2",
  });
  assert.match(
    dnn.stdout,
    /^EPSANET_ONEDNN=\/nonexistent\/libdnnl\.so\.2: \/nonexistent\/libdnnl\.so\.2 does not exist; /,
  );
});

testWith("EPSANET_CUDA_LIBS pointing at nothing usable is an error, even for --device auto", ["run", "write"], () => {
  for (const value of ["/nonexistent/cuda/lib", Deno.makeTempDirSync()]) {
    const result = run(
      `${DEVICES} for (const spec of ["auto", "cuda"]) { try { resolveDevice(spec); console.log("a device"); } ` +
        `catch (e) { console.log(e.message); } }`,
      { EPSANET_CUDA_LIBS: value },
    );
    const messages = result.stdout.split("\n");
    assert.equal(messages.length, 2, result.stdout);
    for (const message of messages) {
      assert.ok(message.startsWith(`EPSANET_CUDA_LIBS=${value}: `), message);
      assert.match(
        message,
        value.startsWith("/nonexistent")
          ? /: \/nonexistent\/cuda\/lib does not exist; /
          : /holds none of libcuda\.so\.1/,
      );
    }
    assert.deepEqual(result.stderr, [], "no fallback notice");
    if (value.startsWith("/tmp")) Deno.removeSync(value);
  }
});

testWith("none switches OpenBLAS and oneDNN off, and one line says so", ["run", "write"], () => {
  const result = run(
    `${GEMM} ${ONEDNN_RUNTIME} console.log(blasInfo().detail, "|", oneDnnInfo().detail);`,
    { EPSANET_BLAS: "none", EPSANET_ONEDNN: "none" },
  );
  assert.equal(result.stdout, "EPSANET_BLAS=none | EPSANET_ONEDNN=none");
  assert.deepEqual(result.stderr, [
    "epsanet: OpenBLAS/oneDNN switched off (EPSANET_BLAS=none EPSANET_ONEDNN=none); using the built-in kernels",
  ]);
});

testWith(
  "without --allow-ffi one line says the built-in kernels run, once for both libraries",
  ["run", "write"],
  () => {
    const result = run(
      `${GEMM} ${ONEDNN_RUNTIME} blasInfo(); blasInfo(); oneDnnInfo(); console.log(blasInfo().detail);`,
      {},
      ["--allow-env", "--allow-read"],
    );
    assert.equal(result.stdout, "OpenBLAS needs --allow-ffi");
    assert.deepEqual(result.stderr, [
      "epsanet: no --allow-ffi permission, so no native library is loaded and the built-in kernels run (slower); " +
      "run deno with --allow-ffi --allow-env --allow-read to use OpenBLAS and oneDNN",
    ]);
  },
);

testWith("OPENBLAS_CORETYPE is chosen from the CPU's flags when unset, and kept when set", ["run", "write"], () => {
  // Reading /proc/cpuinfo needs --allow-all in Deno 2, so the child reports the flags too.
  const code = `${GEMM} const info = blasInfo();
    const flags = Deno.readTextFileSync("/proc/cpuinfo").match(/^flags\\s*:(.*)$/m)?.[1] ?? "";
    console.log(Deno.env.get("OPENBLAS_CORETYPE") ?? "", "|", info.kind, "|", flags.trim());`;
  const chosen = run(code, {}, ["--allow-all"], ["OPENBLAS_CORETYPE"]);
  const [core, kind, flags] = chosen.stdout.split(" | ");
  const has = (flag: string) => flags.split(" ").includes(flag);
  const expected = has("avx512f") && has("avx512bw") && has("avx512vl")
    ? "SkylakeX"
    : has("avx2") && has("fma")
    ? "Haswell"
    : "";
  assert.deepEqual([core, kind], [expected, "blas"], chosen.stderr.join("\n"));
  const kept = run(code, { OPENBLAS_CORETYPE: "Haswell" });
  assert.deepEqual(kept.stdout.split(" | ").slice(0, 2), ["Haswell", "blas"]);
});
