/**
 * The CPU libraries on every operating system: the per-OS candidate lists (pure functions of OS,
 * environment and arch, so macOS and Windows are checked here on Linux), the one-line notice when
 * they are missing, the version probe that turns oneDNN 3.x down, and a child process with the
 * libraries switched off that prints exactly one notice line.
 *
 * @module
 */

import assert from "node:assert/strict";
import { OPENBLAS } from "../ffi/cblas.ts";
import { ACCELERATE, oneDnnSearch, openBlasSearch } from "../ffi/cpu_places.ts";
import { ONEDNN, oneDnnMismatch } from "../ffi/dnnl.ts";
import { libraryCandidates, type LibrarySpec, openOrFallBack, type Place } from "../ffi/load.ts";
import { installHint, NATIVE_SPEEDUP, nativeNotice } from "../ffi/native_notice.ts";
import { gemmTypeScript } from "../nn/cpu/gemm.ts";
import { testWith } from "./helpers.ts";

/** The folders of a search's `folders` places, in order. */
function folders(places: readonly Place[]): string[] {
  return places.flatMap((p) => ("folders" in p ? (typeof p.folders === "function" ? p.folders() : p.folders) : []));
}

Deno.test("macOS: Accelerate first, then Homebrew's and conda's OpenBLAS; oneDNN from Homebrew or conda", () => {
  const blas = openBlasSearch("darwin", { condaPrefix: "/Users/me/miniconda3/" }, "aarch64");
  assert.deepEqual(blas.files, [ACCELERATE, "libopenblas.0.dylib", "libopenblas.dylib"]);
  assert.equal(ACCELERATE, "/System/Library/Frameworks/Accelerate.framework/Accelerate");
  assert.equal(blas.places[0] && "loader" in blas.places[0], true, "the loader path first");
  assert.deepEqual(folders(blas.places), [
    "/opt/homebrew/opt/openblas/lib",
    "/usr/local/opt/openblas/lib",
    "/Users/me/miniconda3/lib",
  ]);
  assert.match(blas.install, /brew install openblas/);
  const dnn = oneDnnSearch("darwin", {}, "aarch64");
  assert.deepEqual(dnn.files, ["libdnnl.2.dylib", "libdnnl.3.dylib", "libdnnl.dylib"]);
  assert.deepEqual(folders(dnn.places), ["/opt/homebrew/opt/onednn/lib", "/usr/local/opt/onednn/lib"]);
});

Deno.test("macOS: Accelerate is tried by its absolute path, never inside a folder", () => {
  const paths = libraryCandidates(OPENBLAS, "darwin").map((c) => c.path);
  assert.equal(paths[0], ACCELERATE);
  assert.equal(paths.filter((p) => p.includes("Accelerate")).length, 1, paths.join("\n"));
  assert.ok(paths.includes("/opt/homebrew/opt/openblas/lib/libopenblas.0.dylib"));
  assert.deepEqual(libraryCandidates(ONEDNN, "darwin").slice(0, 2).map((c) => c.path), [
    "libdnnl.2.dylib",
    "libdnnl.3.dylib",
  ]);
});

Deno.test("Windows: DLLs on PATH (the loader), beside deno.exe, then conda's Library\\bin", () => {
  const env = { execDir: "C:\\Users\\me\\.deno\\bin", condaPrefix: "C:\\conda\\" };
  const blas = openBlasSearch("windows", env, "x86_64");
  assert.deepEqual(blas.files, ["openblas.dll", "libopenblas.dll"]);
  assert.equal(blas.places[0] && "loader" in blas.places[0], true);
  assert.deepEqual(folders(blas.places), ["C:\\Users\\me\\.deno\\bin", "C:\\conda\\Library\\bin"]);
  const dnn = oneDnnSearch("windows", env, "x86_64");
  assert.deepEqual(dnn.files, ["dnnl.dll"]);
  assert.deepEqual(folders(dnn.places), folders(blas.places));
  assert.deepEqual(folders(openBlasSearch("windows", {}, "x86_64").places), [], "nothing when unknown");
});

Deno.test("Linux: what was found before, per arch, plus conda's lib; oneDNN 3 after 2", () => {
  const x86 = openBlasSearch("linux", {}, "x86_64");
  assert.deepEqual(x86.files, ["libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libblas.so.3"]);
  assert.deepEqual(folders(x86.places), [
    "/usr/lib/x86_64-linux-gnu/openblas-pthread",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/local/lib",
  ]);
  const arm = openBlasSearch("linux", { condaPrefix: "/opt/conda" }, "aarch64");
  assert.equal(folders(arm.places)[0], "/usr/lib/aarch64-linux-gnu/openblas-pthread");
  assert.equal(folders(arm.places).at(-1), "/opt/conda/lib");
  assert.deepEqual(oneDnnSearch("linux", {}, "x86_64").files, ["libdnnl.so.2", "libdnnl.so.3"]);
  assert.equal(oneDnnSearch("linux", {}, "x86_64").install, "install libdnnl2");
});

Deno.test("the one notice names what is missing, the built-in kernels and the OS's install command", () => {
  const both = [{ name: "OpenBLAS", state: "missing" }, { name: "oneDNN", state: "missing" }] as const;
  assert.equal(
    nativeNotice(both, "linux"),
    `no OpenBLAS/oneDNN found; using the built-in kernels (sudo apt-get install libopenblas0-pthread libdnnl2 ` +
      `for ${NATIVE_SPEEDUP}; EPSANET_VERBOSE=1 lists the places tried)`,
  );
  assert.match(nativeNotice(both, "darwin"), /\(brew install openblas and conda install -c conda-forge "onednn<3"/);
  assert.match(nativeNotice(both, "windows"), /put openblas\.dll and dnnl\.dll \(oneDNN 2\.x\) .* beside deno\.exe/);
  const one = nativeNotice([{ name: "OpenBLAS", state: "loaded" }, { name: "oneDNN", state: "missing" }], "linux");
  assert.match(one, /^no oneDNN found; using the built-in kernels \(sudo apt-get install libdnnl2 for full speed;/);
  assert.equal(nativeNotice([{ name: "OpenBLAS", state: "loaded" }, { name: "oneDNN", state: "loaded" }], "linux"), "");
  const three = nativeNotice([
    { name: "OpenBLAS", state: "loaded" },
    { name: "oneDNN", state: "rejected", detail: "/usr/lib/libdnnl.so.3: oneDNN 3.4.1; only 2.x is supported" },
  ], "linux");
  assert.match(three, /^oneDNN turned down \(\/usr\/lib\/libdnnl\.so\.3: oneDNN 3\.4\.1; only 2\.x is supported\); /);
  assert.equal(installHint(["OpenBLAS"], "darwin"), "brew install openblas");
});

Deno.test("oneDNN builds other than 2.x are turned down by their version", () => {
  assert.equal(oneDnnMismatch([2, 6, 3]), undefined);
  assert.equal(oneDnnMismatch([3, 4, 1]), "oneDNN 3.4.1; only 2.x is supported");
  assert.equal(oneDnnMismatch([1, 8, 0]), "oneDNN 1.8.0; only 2.x is supported");
});

testWith(
  "a probe that turns a found library down is a fallback that says why, not a crash",
  ["ffi", "env", "read"],
  () => {
    // libm stands in for a oneDNN 3: it opens, but its probe says it does not fit, so the full
    // table (with a symbol libm lacks, as 3.x lacks 2.x's) is never bound.
    const spec: LibrarySpec = {
      name: "Probed",
      envVar: "EPSANET_TEST_PROBED",
      override: "only",
      platforms: { linux: { files: ["libm.so.6"], places: [{ loader: true }], install: "install libprobed" } },
      symbols: { no_such_symbol_in_libm: { parameters: [], result: "void" } },
      probe: {
        symbols: { cos: { parameters: ["f64"], result: "f64" } },
        check: (library) =>
          (library.symbols.cos as (x: number) => number)(0) === 1 ? "version 3; only 2 fits" : undefined,
      },
    };
    const result = openOrFallBack(spec, "", false);
    assert.equal(result.library, null);
    assert.equal(result.library === null && result.error?.rejected, "libm.so.6: version 3; only 2 fits");
  },
);

/** Runs `code` in a fresh deno with every permission and `env` (no other EPSANET_* variable). */
function child(code: string, env: Record<string, string>): { stdout: string; notices: string[] } {
  const base = Object.fromEntries(Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("EPSANET_")));
  const output = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { ...base, NO_COLOR: "1", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.ok(output.success, decode(output.stderr));
  return {
    stdout: decode(output.stdout).trim(),
    notices: decode(output.stderr).split("\n").filter((line) => line.startsWith("epsanet:")),
  };
}

const ROOT = new URL("../", import.meta.url);
const WORK = `import { blasInfo, gemm } from "${new URL("nn/cpu/gemm.ts", ROOT).href}";
import { oneDnnInfo } from "${new URL("nn/cpu/onednn/runtime.ts", ROOT).href}";
const c = new Float32Array(4);
for (let i = 0; i < 3; i++) {
  gemm({ transA: false, transB: false, m: 2, n: 2, k: 1, alpha: 1, a: new Float32Array([1, 2]), aOffset: 0,
    b: new Float32Array([3, 4]), bOffset: 0, beta: 0, c, cOffset: 0 });
  oneDnnInfo(); blasInfo();
}
console.log(blasInfo().kind, oneDnnInfo().available, c.join(","));`;

testWith("with the native libraries switched off, one line says so, however many kernels run", ["run"], () => {
  const off = child(WORK, { EPSANET_BLAS: "none", EPSANET_ONEDNN: "none" });
  assert.equal(off.stdout, "wasm false 3,4,6,8");
  assert.deepEqual(off.notices, [
    "epsanet: OpenBLAS/oneDNN switched off (EPSANET_BLAS=none EPSANET_ONEDNN=none); using the built-in kernels",
  ]);
  const dnnOff = child(WORK, { EPSANET_ONEDNN: "none" });
  assert.equal(dnnOff.notices.length, 1, dnnOff.notices.join("\n"));
  assert.match(dnnOff.notices[0], /oneDNN switched off \(EPSANET_ONEDNN=none\)/);
});

/** A CBLAS with nothing but `cblas_sgemm` and `cblas_dgemm` (row-major), as Accelerate offers: no `openblas_*`. */
const PLAIN_CBLAS = `
#define GEMM(NAME, T) void NAME(int order, int ta, int tb, int m, int n, int k, T alpha, const T *a, int lda, \\
    const T *b, int ldb, T beta, T *c, int ldc) { \\
  for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) { \\
    T sum = 0; \\
    for (int p = 0; p < k; p++) sum += (ta == 112 ? a[p * lda + i] : a[i * lda + p]) * \\
      (tb == 112 ? b[j * ldb + p] : b[p * ldb + j]); \\
    c[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j]); \\
  } }
GEMM(cblas_sgemm, float)
GEMM(cblas_dgemm, double)
`;

/** Whether a C compiler is on PATH (the plain-CBLAS test builds its library with it). */
function hasClang(): boolean {
  try {
    return new Deno.Command("clang", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

testWith("a CBLAS without OpenBLAS's own symbols (as Accelerate) binds and computes", ["run", "write", "read"], () => {
  if (!hasClang()) {
    console.log("clang not found; this test needs it to build a plain CBLAS");
    return;
  }
  const dir = Deno.makeTempDirSync({ prefix: "epsanet-cblas-" });
  try {
    Deno.writeTextFileSync(`${dir}/cblas.c`, PLAIN_CBLAS);
    const built = new Deno.Command("clang", {
      args: ["-O1", "-shared", "-fPIC", "-o", `${dir}/libplaincblas.so`, `${dir}/cblas.c`],
      stderr: "piped",
    }).outputSync();
    assert.ok(built.success, new TextDecoder().decode(built.stderr));
    const m = 3, n = 5, k = 4;
    const a = Array.from({ length: m * k }, (_, i) => (i % 7) - 3);
    const b = Array.from({ length: k * n }, (_, i) => (i % 5) * 0.5 - 1);
    const code = `import { blasInfo, gemm } from "${new URL("nn/cpu/gemm.ts", ROOT).href}";
      const out = [];
      for (const [transA, transB] of [[false, false], [true, true]]) {
        const c = new Float32Array(${m * n});
        gemm({ transA, transB, m: ${m}, n: ${n}, k: ${k}, alpha: 1, a: new Float32Array(${JSON.stringify(a)}),
          aOffset: 0, b: new Float32Array(${JSON.stringify(b)}), bOffset: 0, beta: 0, c, cOffset: 0 });
        out.push(Array.from(c).join(","));
      }
      console.log(blasInfo().kind, blasInfo().detail, out.join(" "));`;
    const result = child(code, { EPSANET_BLAS: `${dir}/libplaincblas.so`, EPSANET_ONEDNN: "none" });
    const expected = [false, true].map((trans) => {
      const c = new Float32Array(m * n);
      gemmTypeScript({
        transA: trans,
        transB: trans,
        m,
        n,
        k,
        alpha: 1,
        a: new Float32Array(a),
        aOffset: 0,
        b: new Float32Array(b),
        bOffset: 0,
        beta: 0,
        c,
        cOffset: 0,
      });
      return Array.from(c).join(",");
    });
    assert.equal(result.stdout, `blas ${dir}/libplaincblas.so ${expected.join(" ")}`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

testWith("a oneDNN 3.x library is recognised by dnnl_version() and refused with one line, not a crash", [
  "run",
  "write",
  "read",
], () => {
  if (!hasClang()) {
    console.log("clang not found; this test needs it to build a library that reports oneDNN 3.4.1");
    return;
  }
  const dir = Deno.makeTempDirSync({ prefix: "epsanet-dnnl3-" });
  try {
    // dnnl_version() as oneDNN 3.x has it; none of the 2.x functions we bind exist.
    Deno.writeTextFileSync(
      `${dir}/dnnl.c`,
      "typedef struct { int major, minor, patch; const char *hash; unsigned cpu_runtime, gpu_runtime; } v_t;\n" +
        'static const v_t v = { 3, 4, 1, "0", 1, 0 };\nconst v_t *dnnl_version(void) { return &v; }\n',
    );
    const built = new Deno.Command("clang", {
      args: ["-shared", "-fPIC", "-o", `${dir}/libdnnl.so.3`, `${dir}/dnnl.c`],
      stderr: "piped",
    }).outputSync();
    assert.ok(built.success, new TextDecoder().decode(built.stderr));
    const code = `import { oneDnnInfo } from "${new URL("nn/cpu/onednn/runtime.ts", ROOT).href}";
      try { oneDnnInfo(); console.log("loaded"); } catch (e) { console.log(e.message); }`;
    const result = child(code, { EPSANET_ONEDNN: `${dir}/libdnnl.so.3` });
    assert.equal(result.stdout.split("\n").length, 1, result.stdout);
    assert.match(
      result.stdout,
      new RegExp(
        `^EPSANET_ONEDNN=${dir}/libdnnl\\.so\\.3: .*does not load \\(oneDNN 3\\.4\\.1; only 2\\.x is supported\\)`,
      ),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
