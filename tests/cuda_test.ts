/**
 * Tests of the CUDA device.
 *
 * Without a GPU (CI, our machines) they check discovery and its errors, device fallback, the
 * kernel sources (nvcc and, when found, NVRTC compile them; their parameter lists match the
 * launcher's table), the FFI tables against the C headers and libraries that can be found, and
 * the host-side logic (allocator, index plans, GEMM operand mapping, algorithm choice) against
 * emulations. With a GPU, every Device kernel runs on random inputs and is compared with the CPU
 * device. A test that cannot run says why in its name.
 *
 * To check the tables against real libraries and headers without a GPU:
 * `EPSANET_CUDA_LIBS=<lib folders> EPSANET_CUDA_HEADERS=<include folders> deno test -A tests/cuda_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CUBLAS_SYMBOLS } from "../ffi/cublas.ts";
import { CUDA_SYMBOLS } from "../ffi/cuda.ts";
import {
  cudaLibraryCandidates,
  type CudaLibraryName,
  CudaUnavailableError,
  openCudaLibraries,
  openCudaLibrary,
  sitePackages,
} from "../ffi/cuda_libraries.ts";
import { CUDNN_ALGO_PERF_BYTES, CUDNN_FMA_MATH, CUDNN_SYMBOLS } from "../ffi/cudnn.ts";
import { NVRTC_SYMBOLS } from "../ffi/nvrtc.ts";
import { cpu } from "../nn/cpu/device.ts";
import { CachingAllocator, sizeClass } from "../nn/cuda/allocator.ts";
import { StatusCheck } from "../nn/cuda/check.ts";
import { compileCached } from "../nn/cuda/compile.ts";
import { pickAlgorithm } from "../nn/cuda/conv.ts";
import { cudaDevice } from "../nn/cuda/device.ts";
import { KERNEL_MODULES } from "../nn/cuda/embed.ts";
import { gemm as cudaGemm } from "../nn/cuda/gemm.ts";
import { KERNEL_SOURCES } from "../nn/cuda/kernels.ts";
import { slotLayout } from "../nn/cuda/launch.ts";
import type { CudaRuntime } from "../nn/cuda/runtime.ts";
import { broadcastPlan, permutePlan, reductionPlan } from "../nn/cuda/shapes.ts";
import { KERNEL_SIGNATURES, type KernelArg } from "../nn/cuda/signatures.ts";
import type { BinaryOp, Conv2dGeometry, Device, DeviceBuffer, GemmArgs, Pool2dGeometry } from "../nn/device.ts";
import { cudaAvailable, resolveDevice } from "../nn/devices.ts";
import { Generator } from "../nn/random.ts";
import { assertClose, assertThrows, granted, testWith, type Tolerance } from "./helpers.ts";

// ---------------------------------------------------------------------------------------------
// Environment probes (at registration time, so skipped tests can say why in their names)

const GPU = cudaAvailable();
const gpuSkipReason = GPU ? "" : `no usable GPU: ${cudaFailure()}`;
const LIBRARIES_FOUND = granted("ffi", "env", "read") && librariesOpen();

function librariesOpen(): boolean {
  try {
    openCudaLibraries();
    return true;
  } catch {
    return false;
  }
}

function cudaFailure(): string {
  try {
    cudaDevice();
    return "";
  } catch (error) {
    return error instanceof CudaUnavailableError ? error.summary : String(error);
  }
}

/** A test that runs only with a working GPU. */
function gpuTest(name: string, fn: (device: Device) => void): void {
  Deno.test({
    name: GPU ? name : `${name} (skipped: ${gpuSkipReason})`,
    ignore: !GPU,
    fn: () => fn(cudaDevice()),
  });
}

/** A test that needs an external thing; skipped with the reason when `reason` is non-empty. */
function testIf(name: string, reason: string, fn: () => void | Promise<void>): void {
  Deno.test({ name: reason ? `${name} (skipped: ${reason})` : name, ignore: reason !== "", fn });
}

const canLook = granted("read", "env");

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function onPath(command: string): string | null {
  if (!canLook) return null;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && exists(`${dir}/${command}`)) return `${dir}/${command}`;
  }
  return null;
}

const KERNELS_DIR = new URL("../nn/cuda/kernels/", import.meta.url);

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

// ---------------------------------------------------------------------------------------------
// Kernel sources

testWith("kernels.ts embeds exactly the .cu files (regenerate with nn/cuda/embed.ts)", ["read"], () => {
  assert.deepEqual(Object.keys(KERNEL_SOURCES).sort(), [...KERNEL_MODULES].sort());
  for (const name of KERNEL_MODULES) {
    const file = Deno.readTextFileSync(new URL(`${name}.cu`, KERNELS_DIR));
    assert.equal(KERNEL_SOURCES[name], file, `${name}.cu differs from kernels.ts: run nn/cuda/embed.ts`);
  }
});

/** The `extern "C" __global__` kernels of a source and their parameter kinds. */
function parseKernels(source: string): Map<string, KernelArg[]> {
  const kernels = new Map<string, KernelArg[]>();
  for (const match of source.matchAll(/extern "C" __global__ void (\w+)\(([^)]*)\)/g)) {
    const args = match[2].split(",").map((param): KernelArg => {
      const type = param.trim().replace(/\s*\w+$/, "").replace(/\bconst\b/g, "").replace(/\s+/g, "");
      if (type.endsWith("*")) return "ptr";
      if (type === "int") return "i32";
      if (type === "float") return "f32";
      if (type === "Dims") return "dims";
      throw new Error(`unknown kernel parameter type "${type}" in ${match[1]}`);
    });
    kernels.set(match[1], args);
  }
  return kernels;
}

/** The `.entry` kernels of PTX and their parameter kinds. */
function parsePtxEntries(ptx: string): Map<string, KernelArg[]> {
  const entries = new Map<string, KernelArg[]>();
  for (const match of ptx.matchAll(/\.entry (\w+)\(([^)]*)\)/g)) {
    const args = match[2].split(",").map((param): KernelArg => {
      if (/\.param \.u64 /.test(param)) return "ptr";
      if (/\.param \.[us]32 /.test(param)) return "i32";
      if (/\.param \.f32 /.test(param)) return "f32";
      if (/\.param \.align 4 \.b8 \w+\[24\]/.test(param)) return "dims";
      throw new Error(`unknown PTX parameter "${param.trim()}" in ${match[1]}`);
    });
    entries.set(match[1], args);
  }
  return entries;
}

function assertSignatures(found: ReadonlyMap<string, Map<string, KernelArg[]>>, origin: string): void {
  for (const [name, { module, args }] of Object.entries(KERNEL_SIGNATURES)) {
    assert.deepEqual(found.get(module)?.get(name), [...args], `${name} in ${module}.cu (${origin})`);
  }
  for (const [module, kernels] of found) {
    for (const name of kernels.keys()) {
      assert.ok(name in KERNEL_SIGNATURES, `${module}.cu defines ${name}, which signatures.ts lacks`);
    }
  }
}

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

// ---------------------------------------------------------------------------------------------
// FFI tables against the libraries and headers that can be found

const TABLES: Record<CudaLibraryName, Deno.ForeignLibraryInterface> = {
  driver: CUDA_SYMBOLS,
  nvrtc: NVRTC_SYMBOLS,
  cublas: CUBLAS_SYMBOLS,
  cudnn: CUDNN_SYMBOLS,
};

function tryOpen(name: CudaLibraryName): { path: string; reason: string } {
  if (!granted("ffi", "env", "read")) {
    return { path: "", reason: "needs --allow-ffi --allow-env --allow-read" };
  }
  try {
    return { path: openCudaLibrary(name, {}).path, reason: "" };
  } catch (error) {
    const summary = error instanceof CudaUnavailableError ? error.summary : String(error);
    return { path: "", reason: `${summary}; set EPSANET_CUDA_LIBS to check it` };
  }
}

const opened = Object.fromEntries(
  (Object.keys(TABLES) as CudaLibraryName[]).map((name) => [name, tryOpen(name)]),
) as Record<CudaLibraryName, { path: string; reason: string }>;

for (const name of Object.keys(TABLES) as CudaLibraryName[]) {
  testIf(`the ${name} library exports every symbol of its table`, opened[name].reason, () => {
    const missing: string[] = [];
    for (const [symbol, definition] of Object.entries(TABLES[name])) {
      try {
        Deno.dlopen(opened[name].path, { [symbol]: definition }).close();
      } catch (error) {
        missing.push(`${symbol} (${(error as Error).message.split("\n")[0]})`);
      }
    }
    assert.deepEqual(missing, [], `${opened[name].path} lacks: ${missing.join(", ")}`);
  });
}

testIf("a failing driver call names the call and the CUresult", opened.driver.reason, () => {
  const { library } = openCudaLibrary("driver", CUDA_SYMBOLS);
  const check = new StatusCheck({ driver: library });
  const status = library.symbols.cuInit(0);
  if (status === 0) {
    assertThrows(
      () => check.cu("cuDeviceGet", library.symbols.cuDeviceGet(new Int32Array(1), 1 << 20)),
      /^cuDeviceGet: CUDA_ERROR_INVALID_DEVICE \(.+\)$/,
    );
  } else {
    assertThrows(() => check.cu("cuInit", status), /^cuInit: CUDA_ERROR_\w+ \(.+\)$/);
  }
  assert.match(check.cuName(2), /^CUDA_ERROR_OUT_OF_MEMORY \(out of memory\)$/);
});

testIf("cuBLAS status names come from the library", opened.cublas.reason, () => {
  const { library } = openCudaLibrary("cublas", CUBLAS_SYMBOLS);
  assertThrows(
    () => new StatusCheck({ cublas: library }).cublas("cublasSgemm_v2", 7),
    /^cublasSgemm_v2: CUBLAS_STATUS_INVALID_VALUE \(.+\)$/,
  );
});

testIf(
  "NVRTC compiles every kernel module (sm_90 CUBIN, cached; PTX parameters match)",
  opened.nvrtc.reason,
  () => {
    const { library } = openCudaLibrary("nvrtc", NVRTC_SYMBOLS);
    const nvrtc = library.symbols;
    const check = new StatusCheck({ nvrtc: library });
    const cache = Deno.makeTempDirSync();
    try {
      const found = new Map<string, Map<string, KernelArg[]>>();
      for (const name of KERNEL_MODULES) {
        const source = KERNEL_SOURCES[name];
        const first = compileCached(nvrtc, check, source, name, { arch: "sm_90", kind: "cubin" }, cache);
        assert.ok(first.image.length > 1000 && !first.fromCache, `${name}: a fresh CUBIN`);
        assert.deepEqual([...first.image.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], "CUBINs are ELF files");
        const again = compileCached(nvrtc, check, source, name, { arch: "sm_90", kind: "cubin" }, cache);
        assert.ok(
          again.fromCache && again.image.length === first.image.length,
          `${name}: read from the cache`,
        );
        const ptx = compileCached(nvrtc, check, source, name, { arch: "compute_90", kind: "ptx" }, null);
        found.set(name, parsePtxEntries(new TextDecoder().decode(ptx.image)));
      }
      assertSignatures(found, "NVRTC PTX");
      assertThrows(
        () =>
          compileCached(nvrtc, check, "__global__ void k() { undefined_name = 1; }", "broken", {
            arch: "sm_90",
            kind: "cubin",
          }, null),
        /^nvrtcCompileProgram: NVRTC_ERROR_COMPILATION: broken\.cu for sm_90:\n.*undefined_name/s,
      );
    } finally {
      Deno.removeSync(cache, { recursive: true });
    }
  },
);

// ---- C headers

/** One C prototype: result type and parameter types. */
interface Prototype {
  result: string;
  params: string[];
}

const MACROS =
  /\b(CUDAAPI|CUDNNWINAPI|CUDNNAPI|CUBLASAPI|CUBLASWINAPI|CUDNN_DEPRECATED|extern|__host__|__cudart_builtin__)\b/g;

/** Finds `name(...)`'s declaration in header text (comments stripped). */
function prototypeOf(text: string, name: string): Prototype | null {
  for (const match of text.matchAll(new RegExp(`\\b${name}\\s*\\(([^;{}()]*)\\)\\s*;`, "g"))) {
    const before = text.slice(Math.max(0, match.index! - 200), match.index!);
    const start = Math.max(
      before.lastIndexOf(";"),
      before.lastIndexOf("}"),
      before.lastIndexOf("{"),
      before.lastIndexOf("\n#"),
    );
    const head = before.slice(start + 1).split("\n").filter((l) => !l.trim().startsWith("#")).join(" ");
    if (/#\s*define/.test(before.slice(before.lastIndexOf("\n")))) continue;
    // The return type is the tail of what precedes the name (export macros come before it).
    const tail = head.replace(MACROS, "").replace(/\s+/g, " ").trim();
    const result = tail.match(/((?:const )?(?:unsigned |long )*\w+(?: ?\*)*)$/)?.[1] ?? tail;
    const list = match[1].replace(/\s+/g, " ").trim();
    const params = list === "void" || list === "" ? [] : list.split(",").map(stripParamName);
    return { result, params };
  }
  return null;
}

function stripParamName(param: string): string {
  let p = param.trim();
  const array = /\[\s*\]$/.test(p);
  p = p.replace(/\[\s*\]$/, "");
  const tokens = p.match(/[\w]+|\*/g) ?? [];
  const last = tokens[tokens.length - 1];
  const isType = /^(int|float|double|char|void|long|short|unsigned|size_t|\*)$/.test(last) ||
    /_t$|^CU[a-z]/.test(last);
  if (tokens.length > 1 && !isType) tokens.pop();
  return tokens.join(" ").replace(/ \*/g, "*") + (array ? "*" : "");
}

const HANDLE =
  /^(cudnnHandle_t|cudnn\w+Descriptor_t|cublasHandle_t|nvrtcProgram|CUcontext|CUstream|CUmodule|CUfunction|CUevent|cudaStream_t)$/;
const ENUM =
  /^(CUresult|CUdevice|CUdevice_attribute|nvrtcResult|cudnn\w+_t|cublas\w+_t|cudaDataType|libraryPropertyType)$/;

/** The Deno types that may stand for a C type. */
function denoTypes(cType: string): string[] {
  const t = cType.replace(/\bconst\b/g, "").replace(/\s+/g, " ").replace(/ \*/g, "*").trim();
  if (t.includes("*")) return ["buffer", "pointer", "u64"];
  if (HANDLE.test(t)) return ["pointer"];
  if (ENUM.test(t)) return ["i32"];
  const plain: Record<string, string> = {
    "int": "i32",
    "unsigned int": "u32",
    "unsigned": "u32",
    "size_t": "usize",
    "long long int": "i64",
    "long long": "i64",
    "int64_t": "i64",
    "unsigned long long": "u64",
    "CUdeviceptr": "u64",
    "float": "f32",
    "double": "f64",
    "unsigned char": "u8",
    "void": "void",
  };
  if (t in plain) return [plain[t]];
  throw new Error(`no Deno type known for C type "${cType}"`);
}

/** Checks each table entry against its prototype; returns the problems. */
function checkTable(
  table: Deno.ForeignLibraryInterface,
  text: string,
  resolve: (name: string) => string,
): string[] {
  const problems: string[] = [];
  for (const [key, def] of Object.entries(table)) {
    const symbol = (def as Deno.ForeignFunction).name as string ?? key;
    let declared: string;
    try {
      declared = resolve(symbol);
    } catch (error) {
      problems.push((error as Error).message);
      continue;
    }
    const proto = prototypeOf(text, declared);
    if (!proto) {
      problems.push(`${symbol}: no declaration of ${declared}`);
      continue;
    }
    const f = def as Deno.ForeignFunction;
    if (proto.params.length !== f.parameters.length) {
      problems.push(
        `${symbol}: ${f.parameters.length} parameters, C has ${proto.params.length} (${proto.params.join(", ")})`,
      );
      continue;
    }
    proto.params.forEach((c, i) => {
      if (!denoTypes(c).includes(f.parameters[i] as string)) {
        problems.push(`${symbol}: parameter ${i} is ${f.parameters[i]}, C type ${c}`);
      }
    });
    const result = proto.result.replace(/\bconst\b/g, "").replace(/\s+/g, "");
    const wanted = result.endsWith("*") ? ["pointer"] : denoTypes(proto.result);
    if (!wanted.includes(f.result as string)) {
      problems.push(`${symbol}: result ${f.result}, C returns ${proto.result}`);
    }
  }
  return problems;
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, "");
}

/** Folders that may hold CUDA headers: EPSANET_CUDA_HEADERS, toolkit and wheel include folders. */
function headerDirs(): string[] {
  if (!canLook) return [];
  const dirs = (Deno.env.get("EPSANET_CUDA_HEADERS") ?? "").split(":").filter(Boolean);
  for (const v of ["CUDA_HOME", "CUDA_PATH", "CUDA_ROOT", "CUDNN_PATH", "CUDNN_HOME"]) {
    const root = Deno.env.get(v);
    if (root) dirs.push(`${root}/include`);
  }
  for (const site of sitePackages()) {
    for (const sub of ["cudnn", "cu13", "cublas", "cuda_nvrtc", "cuda_runtime"]) {
      dirs.push(`${site}/nvidia/${sub}/include`);
    }
  }
  dirs.push("/usr/local/cuda/include");
  try {
    for (const e of Deno.readDirSync("/usr/local")) {
      if (/^cuda-[\d.]+$/.test(e.name)) dirs.push(`/usr/local/${e.name}/include`);
    }
  } catch {
    // No /usr/local listing: the folders above remain.
  }
  dirs.push("/usr/include", "/usr/include/x86_64-linux-gnu");
  return dirs;
}

function readHeaders(files: string[]): { text: string; where: string } | null {
  for (const dir of headerDirs()) {
    if (files.every((f) => exists(`${dir}/${f}`))) {
      return {
        text: files.map((f) => stripComments(Deno.readTextFileSync(`${dir}/${f}`))).join("\n"),
        where: dir,
      };
    }
  }
  return null;
}

const HEADERS: Record<CudaLibraryName, string[]> = {
  driver: ["cuda.h"],
  nvrtc: ["nvrtc.h"],
  cublas: ["cublas_api.h"],
  cudnn: ["cudnn_graph.h", "cudnn_ops.h", "cudnn_cnn.h"],
};

/** cuda.h maps API names to exported ones with `#define cuX cuX_v2` (or `__CUDA_API_PTSZ(cuX)`). */
function cudaExportResolver(text: string): (symbol: string) => string {
  const macros = new Map<string, string>();
  for (const m of text.matchAll(/#define (cu\w+)\s+(?:__CUDA_API_PT(?:SZ|DS)\((cu\w+)\)|(cu\w+))\s*$/gm)) {
    macros.set(m[1], m[2] ?? m[3]);
  }
  return (symbol) => {
    const target = macros.get(symbol);
    if (target !== undefined && target !== symbol) {
      throw new Error(`${symbol}: cuda.h maps it to ${target}; the unversioned export has the old ABI`);
    }
    for (const [api, exported] of macros) if (exported === symbol) return api;
    return symbol;
  };
}

for (const name of Object.keys(HEADERS) as CudaLibraryName[]) {
  const headers = readHeaders(HEADERS[name]);
  const reason = !canLook
    ? "needs --allow-read --allow-env"
    : headers
    ? ""
    : `${HEADERS[name].join(", ")} not found; set EPSANET_CUDA_HEADERS`;
  testIf(`the ${name} table matches the prototypes in ${HEADERS[name].join(", ")}`, reason, () => {
    const resolve = name === "driver" ? cudaExportResolver(headers!.text) : (s: string) => s;
    const problems = checkTable(TABLES[name], headers!.text, resolve);
    assert.deepEqual(problems, [], `against ${headers!.where}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Host-side logic, checked against emulations (no GPU needed)

function fakeBackend(limit = Infinity) {
  const calls = { malloc: 0, free: 0, sync: 0 };
  let next = 0x1000n;
  let used = 0;
  return {
    calls,
    backend: {
      malloc(bytes: bigint): bigint | null {
        calls.malloc++;
        if (used + Number(bytes) > limit) return null;
        used += Number(bytes);
        next += bytes;
        return next;
      },
      free(): void {
        calls.free++;
      },
      synchronize(): void {
        calls.sync++;
      },
      release(bytes: number): void {
        used -= bytes;
      },
    },
  };
}

Deno.test("the caching allocator rounds to size classes and reuses freed blocks", () => {
  assert.equal(sizeClass(0), 512);
  assert.equal(sizeClass(513), 1024);
  assert.equal(sizeClass(1024 * 1024), 1024 * 1024);
  assert.equal(sizeClass(1024 * 1024 + 1), 1024 * 1024 + 128 * 1024);
  assert.equal(sizeClass(40 * 1024 * 1024 + 1), 42 * 1024 * 1024);
  const { calls, backend } = fakeBackend();
  const allocator = new CachingAllocator(backend);
  const sizes = [4, 1000, 4096, 3 << 20, 50 << 20, 1000];
  const reserved: number[] = [];
  for (let step = 0; step < 20; step++) {
    const blocks = sizes.map((s) => allocator.alloc(s));
    assert.equal(allocator.allocatedBytes, blocks.reduce((t, b) => t + b.size, 0));
    for (const b of blocks.reverse()) allocator.free(b);
    assert.equal(allocator.allocatedBytes, 0);
    reserved.push(allocator.reservedBytes);
  }
  assert.equal(calls.malloc, sizes.length, "the driver is asked only in the first step");
  assert.ok(reserved.every((r) => r === reserved[0]), "reserved bytes stop growing after the first step");
  assert.equal(allocator.peakAllocatedBytes, reserved[0]);
  allocator.resetPeak();
  assert.equal(allocator.peakAllocatedBytes, 0);
  allocator.emptyCache();
  assert.equal(allocator.reservedBytes, 0);
  assert.equal(calls.free, sizes.length);
  assert.ok(calls.sync >= 1, "releasing memory waits for the stream");
});

Deno.test("the caching allocator frees its cache and retries once when the device is full", () => {
  const { calls, backend } = fakeBackend(4096);
  const allocator = new CachingAllocator({ ...backend, free: () => backend.release(2048) });
  const a = allocator.alloc(2048);
  const b = allocator.alloc(2048);
  allocator.free(a);
  allocator.free(b);
  const c = allocator.alloc(4096);
  assert.equal(c.size, 4096);
  assert.equal(allocator.reservedBytes, 4096);
  assert.ok(calls.sync >= 1);
  assertThrows(
    () => allocator.alloc(100),
    /CUDA out of memory: cannot allocate 0\.0 MiB with 0\.0 MiB in use/,
  );
  allocator.free(c);
  assertThrows(() => allocator.free(c), /not a live allocation/);
});

/** Runs a broadcast plan the way binary_op does, on host arrays. */
function emulateBinary(
  op: BinaryOp,
  a: Float32Array,
  b: Float32Array,
  outShape: number[],
  plan: ReturnType<typeof broadcastPlan>,
): Float32Array {
  const n = outShape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let rest = i, ai = 0, bi = 0;
    for (let d = plan.size.length - 1; d >= 0; d--) {
      const idx = rest % plan.size[d];
      rest = Math.floor(rest / plan.size[d]);
      ai += idx * plan.aStride[d];
      bi += idx * plan.bStride[d];
    }
    const x = a[ai], y = b[bi];
    out[i] = op === "add" ? x + y : op === "sub" ? x - y : op === "mul" ? x * y : x / y;
  }
  return out;
}

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n }, () => (g.uniform() * 2 - 1) * scale);
}

const size = (shape: readonly number[]): number => shape.reduce((x, y) => x * y, 1);

Deno.test("broadcast plans index like the CPU device's binary()", () => {
  const cases: [number[], number[]][] = [
    [[2, 3, 4, 5], [2, 3, 4, 5]],
    [[2, 3, 4, 5], [1, 3, 1, 1]],
    [[1, 3, 1, 1], [2, 3, 4, 5]],
    [[2, 3, 4, 5], [1, 1, 1, 1]],
    [[2, 1, 4, 1], [1, 3, 1, 5]],
    [[4, 1], [1, 6]],
    [[7], [1]],
    [[1, 1], [1, 1]],
    [[2, 3, 1, 5, 2, 3], [1, 3, 4, 1, 2, 1]],
  ];
  for (const [aShape, bShape] of cases) {
    const outShape = aShape.map((s, i) => Math.max(s, bShape[i]));
    const a = randomArray(size(aShape), 1);
    const b = randomArray(size(bShape), 2);
    for (const op of ["add", "sub", "mul", "div"] as const) {
      const expected = new Float32Array(size(outShape));
      cpu.binary(
        op,
        a as unknown as DeviceBuffer,
        aShape,
        b as unknown as DeviceBuffer,
        bShape,
        expected as unknown as DeviceBuffer,
        outShape,
      );
      const got = emulateBinary(op, a, b, outShape, broadcastPlan(aShape, bShape, outShape));
      assert.deepEqual(got, expected, `${op} [${aShape}] with [${bShape}]`);
    }
  }
  assertThrows(
    () => broadcastPlan([2, 1, 2, 1, 2, 1, 2, 1], [1, 2, 1, 2, 1, 2, 1, 2], [2, 2, 2, 2, 2, 2, 2, 2]),
    /the CUDA kernels take 6/,
  );
});

Deno.test("reduction plans sum like the CPU device's sumTo()", () => {
  const cases: [number[], number[]][] = [
    [[8, 16, 7, 7], [1, 16, 1, 1]],
    [[8, 16, 7, 7], [8, 16, 1, 1]],
    [[8, 16, 7, 7], [1, 1, 1, 1]],
    [[8, 16, 7, 7], [8, 16, 7, 7]],
    [[5, 10], [1, 10]],
    [[5, 10], [5, 1]],
    [[3, 4, 5, 6], [3, 1, 5, 1]],
    [[1, 4, 1, 6], [1, 1, 1, 6]],
    [[1, 1], [1, 1]],
  ];
  for (const [xShape, outShape] of cases) {
    const x = randomArray(size(xShape), 3);
    const expected = new Float32Array(size(outShape));
    cpu.sumTo(x as unknown as DeviceBuffer, xShape, expected as unknown as DeviceBuffer, outShape);
    const p = reductionPlan(xShape, outShape);
    assert.equal(p.outCount, size(outShape));
    const got = new Float32Array(p.outCount);
    for (let o = 0; o < p.outCount; o++) {
      let rest = o, base = 0;
      for (let d = p.keptSize.length - 1; d >= 0; d--) {
        base += (rest % p.keptSize[d]) * p.keptStride[d];
        rest = Math.floor(rest / p.keptSize[d]);
      }
      let acc = 0;
      for (let r = 0; r < p.reduceCount; r++) {
        let left = r, offset = base;
        for (let d = p.reducedSize.length - 1; d >= 0; d--) {
          offset += (left % p.reducedSize[d]) * p.reducedStride[d];
          left = Math.floor(left / p.reducedSize[d]);
        }
        acc += x[offset];
      }
      got[o] = acc;
    }
    assertClose(got, expected, { rtol: 1e-6, atol: 1e-6 }, `[${xShape}] -> [${outShape}]`);
  }
});

Deno.test("permute plans index like the CPU device's permute()", () => {
  const cases: [number[], number[]][] = [
    [[2, 3], [1, 0]],
    [[2, 3, 4], [0, 2, 1]],
    [[2, 3, 4, 5], [0, 2, 3, 1]],
    [[2, 3, 4, 5], [3, 2, 1, 0]],
    [[2, 1, 4, 1], [3, 2, 1, 0]],
    [[6], [0]],
    [[2, 3, 4, 5, 2, 3], [5, 3, 1, 0, 2, 4]],
  ];
  for (const [shape, perm] of cases) {
    const x = randomArray(size(shape), 4);
    const expected = new Float32Array(x.length);
    cpu.permute(x as unknown as DeviceBuffer, shape, perm, expected as unknown as DeviceBuffer);
    const p = permutePlan(shape, perm);
    const got = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      let rest = i, offset = 0;
      for (let d = p.size.length - 1; d >= 0; d--) {
        offset += (rest % p.size[d]) * p.inStride[d];
        rest = Math.floor(rest / p.size[d]);
      }
      got[i] = x[offset];
    }
    assert.deepEqual(got, expected, `[${shape}] by [${perm}]`);
  }
});

/** Column-major SGEMM exactly as the BLAS reference defines it, over one host memory. */
function referenceSgemm(
  memory: Float32Array,
  transa: number,
  transb: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  beta: number,
  c: number,
  ldc: number,
): number {
  const rowsA = transa === 0 ? m : k;
  const rowsB = transb === 0 ? k : n;
  if (lda < Math.max(1, rowsA) || ldb < Math.max(1, rowsB) || ldc < Math.max(1, m)) return 7; // INVALID_VALUE
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < m; i++) {
      let sum = 0;
      for (let l = 0; l < k; l++) {
        const av = transa === 0 ? memory[a + i + l * lda] : memory[a + l + i * lda];
        const bv = transb === 0 ? memory[b + l + j * ldb] : memory[b + j + l * ldb];
        sum += av * bv;
      }
      const at = c + i + j * ldc;
      memory[at] = alpha * sum + (beta === 0 ? 0 : beta * memory[at]);
    }
  }
  return 0;
}

Deno.test("gemm() maps row-major GEMMs onto column-major cuBLAS calls correctly", () => {
  // Device addresses are byte offsets into one host array.
  const memory = new Float32Array(1 << 16);
  const at = (address: bigint): number => Number(address) / 4;
  const fake = {
    check: new StatusCheck({}),
    cublas: null,
    blas: {
      cublasSgemm_v2: (
        _h: unknown,
        ta: number,
        tb: number,
        m: number,
        n: number,
        k: number,
        al: Float32Array,
        a: bigint,
        lda: number,
        b: bigint,
        ldb: number,
        be: Float32Array,
        c: bigint,
        ldc: number,
      ) => referenceSgemm(memory, ta, tb, m, n, k, al[0], at(a), lda, at(b), ldb, be[0], at(c), ldc),
      cublasSgemmStridedBatched: (
        _h: unknown,
        ta: number,
        tb: number,
        m: number,
        n: number,
        k: number,
        al: Float32Array,
        a: bigint,
        lda: number,
        sa: bigint,
        b: bigint,
        ldb: number,
        sb: bigint,
        be: Float32Array,
        c: bigint,
        ldc: number,
        sc: bigint,
        count: number,
      ) => {
        for (let i = 0; i < count; i++) {
          const s = referenceSgemm(
            memory,
            ta,
            tb,
            m,
            n,
            k,
            al[0],
            at(a) + i * Number(sa),
            lda,
            at(b) + i * Number(sb),
            ldb,
            be[0],
            at(c) + i * Number(sc),
            ldc,
          );
          if (s !== 0) return s;
        }
        return 0;
      },
    },
  } as unknown as CudaRuntime;
  const A = 0, B = 16384, C = 32768;
  const cases: Partial<GemmArgs>[] = [];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      cases.push({ transA, transB, m: 5, n: 7, k: 3, alpha: 1, beta: 0 });
      cases.push({ transA, transB, m: 4, n: 6, k: 9, alpha: 0.5, beta: 2, batch: 3 });
      cases.push({ transA, transB, m: 3, n: 2, k: 4, alpha: 1, beta: 1, batch: 2, strideA: 0, strideC: 10 });
    }
  }
  cases.push({ transA: false, transB: false, m: 3, n: 4, k: 0, alpha: 1, beta: 0.5 });
  cases.push({ transA: true, transB: true, m: 1, n: 1, k: 1, alpha: 1, beta: 0 });
  for (const c of cases) {
    const args = c as GemmArgs;
    const init = [randomArray(2048, 5), randomArray(2048, 6), randomArray(2048, 7)];
    memory.set(init[0], A);
    memory.set(init[1], B);
    memory.set(init[2], C);
    cudaGemm(fake, args, BigInt(A * 4), BigInt(B * 4), BigInt(C * 4));
    const expected = init[2].slice();
    cpu.gemm({
      ...args,
      a: init[0] as unknown as DeviceBuffer,
      b: init[1] as unknown as DeviceBuffer,
      c: expected as unknown as DeviceBuffer,
    });
    assertClose(memory.subarray(C, C + 2048), expected, { rtol: 1e-5, atol: 1e-5 }, JSON.stringify(c));
  }
});

Deno.test("pickAlgorithm() takes the fastest successful algorithm, with FMA math unless TF32 is allowed", () => {
  const perf = new Uint8Array(CUDNN_ALGO_PERF_BYTES * 3);
  const view = new DataView(perf.buffer);
  const entry = (i: number, algo: number, status: number, math: number) => {
    view.setInt32(i * CUDNN_ALGO_PERF_BYTES, algo, true);
    view.setInt32(i * CUDNN_ALGO_PERF_BYTES + 4, status, true);
    view.setInt32(i * CUDNN_ALGO_PERF_BYTES + 28, math, true);
  };
  entry(0, 6, 3000, CUDNN_FMA_MATH);
  entry(1, 1, 0, 1);
  entry(2, 0, 0, CUDNN_FMA_MATH);
  assert.deepEqual(pickAlgorithm(perf, 3, true), { algo: 1, mathType: 1 });
  assert.deepEqual(pickAlgorithm(perf, 3, false), { algo: 0, mathType: CUDNN_FMA_MATH });
  assert.deepEqual(
    pickAlgorithm(perf, 2, false),
    { algo: 1, mathType: 1 },
    "falls back to any successful one",
  );
  assert.equal(pickAlgorithm(perf, 1, false), null);
});

Deno.test("kernel parameter slots are 8 bytes, 24 for Dims", () => {
  assert.deepEqual(slotLayout(["ptr", "i32", "dims", "f32", "dims"]), {
    offsets: [0, 8, 16, 40, 48],
    bytes: 72,
  });
});

// ---------------------------------------------------------------------------------------------
// With a GPU: every kernel against the CPU device

type Inputs = readonly (Float32Array | number)[];

/**
 * Runs `body` on the CPU and on the GPU with the same inputs (an array is copied in; a number
 * allocates that many elements pre-filled with garbage) and compares every buffer afterwards.
 */
function compareDevices(
  gpu: Device,
  label: string,
  inputs: Inputs,
  body: (d: Device, b: DeviceBuffer[]) => void,
  tol: Tolerance | ((expected: Float32Array) => Tolerance),
): void {
  const run = (d: Device): Float32Array[] => {
    const buffers = inputs.map((v) => {
      const buffer = d.alloc(typeof v === "number" ? v : v.length, "float32");
      if (typeof v === "number") d.fill(buffer, 123.25);
      else d.write(buffer, v);
      return buffer;
    });
    body(d, buffers);
    const values = buffers.map((b) => d.read(b) as Float32Array);
    buffers.forEach((b) => d.free(b));
    return values;
  };
  const expected = run(cpu);
  const got = run(gpu);
  expected.forEach((e, i) => assertClose(got[i], e, typeof tol === "function" ? tol(e) : tol, `${label}, buffer ${i}`));
}

/** A tolerance whose absolute part scales with the largest expected magnitude (sums of many terms). */
function scaled(rtol: number, relativeToMax: number): (expected: Float32Array) => Tolerance {
  return (expected) => {
    let max = 0;
    for (const v of expected) max = Math.max(max, Math.abs(v));
    return { rtol, atol: relativeToMax * max + 1e-7 };
  };
}

gpuTest("cuda: describe() names the GPU and libraries; memory(), fill, copy, read and write work", (gpu) => {
  assert.match(
    gpu.describe(),
    /^cuda:0: .+ \(sm_\d+, \d+ SMs, [\d.]+ GiB\), driver \d+\.\d+, cuDNN 9\.\d+\.\d+, cuBLAS \d+\.\d+\.\d+, NVRTC \d+\.\d+ /,
  );
  assertThrows(() => gpu.alloc(4, "float64"), /float32 only/);
  const a = gpu.alloc(1000, "float32");
  const b = gpu.alloc(1000, "float32", true);
  assert.deepEqual(gpu.read(b), new Float32Array(1000));
  gpu.fill(a, -2.5);
  gpu.copy(a, b);
  assert.deepEqual(gpu.read(b), new Float32Array(1000).fill(-2.5));
  const values = randomArray(1000, 9);
  gpu.write(a, values);
  values.fill(0); // the write was staged before write() returned
  assert.deepEqual(gpu.read(a), randomArray(1000, 9));
  const empty = gpu.alloc(0, "float32");
  assert.equal(gpu.read(empty).length, 0);
  [a, b, empty].forEach((x) => gpu.free(x));
});

gpuTest("cuda: binary() broadcasts like the CPU", (gpu) => {
  const cases: [number[], number[]][] = [
    [[2, 3, 4, 5], [2, 3, 4, 5]],
    [[8, 16, 7, 7], [1, 16, 1, 1]],
    [[8, 16, 7, 7], [8, 16, 1, 1]],
    [[1, 16, 1, 1], [8, 16, 7, 7]],
    [[2, 1, 4, 1], [1, 3, 1, 5]],
    [[300, 1], [1, 1]],
  ];
  for (const [aShape, bShape] of cases) {
    const outShape = aShape.map((s, i) => Math.max(s, bShape[i]));
    for (const op of ["add", "sub", "mul", "div"] as const) {
      compareDevices(
        gpu,
        `${op} [${aShape}] [${bShape}]`,
        [randomArray(size(aShape), 1), randomArray(size(bShape), 2), size(outShape)],
        (d, [a, b, o]) => d.binary(op, a, aShape, b, bShape, o, outShape),
        { rtol: 1e-6, atol: 1e-6 },
      );
    }
  }
  compareDevices(
    gpu,
    "in place",
    [randomArray(60, 3), randomArray(5, 4)],
    (d, [a, b]) => d.binary("mul", a, [12, 5], b, [1, 5], a, [12, 5]),
    { rtol: 1e-6 },
  );
});

gpuTest("cuda: unary(), activationBackward(), affine(), pow() and axpy() match the CPU", (gpu) => {
  const n = 10_000;
  const x = randomArray(n, 5, 4);
  for (const op of ["neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh"] as const) {
    const input = op === "log" || op === "sqrt" ? x.map(Math.abs) : x;
    // expf / logf / tanhf are within 2 ulp; the CPU rounds the float64 result once.
    compareDevices(gpu, op, [input, n], (d, [a, o]) => d.unary(op, a, o), { rtol: 2e-6, atol: 1e-7 });
  }
  for (const op of ["relu", "sigmoid", "tanh"] as const) {
    const y = op === "relu"
      ? x.map((v) => Math.max(v, 0))
      : op === "sigmoid"
      ? x.map((v) => 1 / (1 + Math.exp(-v)))
      : x.map(Math.tanh);
    compareDevices(
      gpu,
      `${op}'`,
      [y, randomArray(n, 6), n],
      (d, [a, dy, dx]) => d.activationBackward(op, a, dy, dx),
      { rtol: 1e-6, atol: 1e-7 },
    );
  }
  compareDevices(gpu, "affine", [x, n], (d, [a, o]) => d.affine(a, o, 0.3, -1.5), { rtol: 1e-6, atol: 1e-6 });
  compareDevices(gpu, "pow 2", [x, n], (d, [a, o]) => d.pow(a, o, 2), { rtol: 1e-6 });
  compareDevices(gpu, "pow 0.5", [x.map(Math.abs), n], (d, [a, o]) => d.pow(a, o, 0.5), {
    rtol: 2e-6,
    atol: 1e-7,
  });
  compareDevices(gpu, "axpy", [x, randomArray(n, 7)], (d, [a, y]) => d.axpy(-0.7, a, y), {
    rtol: 1e-6,
    atol: 1e-6,
  });
});

gpuTest("cuda: sumTo(), permute() and copyBlocks() match the CPU", (gpu) => {
  const sums: [number[], number[]][] = [
    [[32, 64, 28, 28], [1, 64, 1, 1]],
    [[32, 64, 28, 28], [32, 64, 1, 1]],
    [[32, 64, 28, 28], [1, 1, 1, 1]],
    [[64, 1000], [1, 1000]],
    [[64, 1000], [64, 1]],
    [[3, 4, 5, 6], [3, 1, 5, 1]],
    [[7, 9], [7, 9]],
  ];
  for (const [xShape, outShape] of sums) {
    const x = randomArray(size(xShape), 8);
    // Float32 tree sums against a float64 running sum: error grows like sqrt(count) ulps.
    const count = size(xShape) / size(outShape);
    compareDevices(
      gpu,
      `sumTo [${xShape}] -> [${outShape}]`,
      [x, size(outShape)],
      (d, [a, o]) => d.sumTo(a, xShape, o, outShape),
      { rtol: 1e-5, atol: 2e-7 * Math.sqrt(count) * 4 },
    );
  }
  const perms: [number[], number[]][] = [[[2, 3], [1, 0]], [[8, 4, 16, 9], [0, 2, 3, 1]], [[8, 4, 16, 9], [
    3,
    1,
    0,
    2,
  ]], [[2, 3, 4, 5, 6], [4, 3, 2, 1, 0]]];
  for (const [shape, perm] of perms) {
    compareDevices(
      gpu,
      `permute [${shape}] [${perm}]`,
      [randomArray(size(shape), 9), size(shape)],
      (d, [a, o]) => d.permute(a, shape, perm, o),
      { rtol: 0, atol: 0 },
    );
  }
  const copy = { outer: 4, inner: 49, srcAxis: 16, dstAxis: 64, srcStart: 0, dstStart: 32, length: 16 };
  compareDevices(
    gpu,
    "copyBlocks concat",
    [randomArray(4 * 16 * 49, 10), 4 * 64 * 49],
    (d, [s, t]) => d.copyBlocks(s, t, copy),
    { rtol: 0, atol: 0 },
  );
  const narrow = { outer: 4, inner: 49, srcAxis: 64, dstAxis: 16, srcStart: 16, dstStart: 0, length: 16 };
  compareDevices(
    gpu,
    "copyBlocks narrow",
    [randomArray(4 * 64 * 49, 11), 4 * 16 * 49],
    (d, [s, t]) => d.copyBlocks(s, t, narrow),
    { rtol: 0, atol: 0 },
  );
});

gpuTest("cuda: gemm() matches the CPU for every transpose, batching and stride", (gpu) => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      for (const [m, n, k, batch] of [[64, 100, 256, 1], [7, 5, 3, 1], [16, 24, 32, 4]]) {
        const args = { transA, transB, m, n, k, alpha: 0.5, beta: 1, batch };
        const label = `gemm ${transA ? "T" : "N"}${transB ? "T" : "N"} ${m}x${n}x${k} x${batch}`;
        compareDevices(
          gpu,
          label,
          [randomArray(m * k * batch, 12), randomArray(k * n * batch, 13), randomArray(m * n * batch, 14)],
          (d, [a, b, c]) => d.gemm({ ...args, a, b, c }),
          { rtol: 1e-4, atol: 1e-5 * k },
        );
      }
    }
  }
  compareDevices(
    gpu,
    "gemm shared A (strideA 0)",
    [randomArray(6 * 8, 15), randomArray(3 * 8 * 5, 16), 3 * 6 * 5],
    (d, [a, b, c]) =>
      d.gemm({
        transA: false,
        transB: false,
        m: 6,
        n: 5,
        k: 8,
        alpha: 1,
        beta: 0,
        a,
        b,
        c,
        batch: 3,
        strideA: 0,
      }),
    { rtol: 1e-5, atol: 1e-5 },
  );
});

function convGeometry(
  batch: number,
  c: number,
  h: number,
  k: number,
  kernel: number,
  stride: number,
  groups: number,
): Conv2dGeometry {
  const pad = Math.floor(kernel / 2);
  const out = Math.floor((h + 2 * pad - kernel) / stride) + 1;
  return {
    batch,
    inChannels: c,
    inHeight: h,
    inWidth: h + 1,
    outChannels: k,
    outHeight: out,
    outWidth: Math.floor((h + 1 + 2 * pad - kernel) / stride) + 1,
    kernelH: kernel,
    kernelW: kernel,
    strideH: stride,
    strideW: stride,
    padH: pad,
    padW: pad,
    dilationH: 1,
    dilationW: 1,
    groups,
  };
}

gpuTest(
  "cuda: conv2d forward, backward-data and backward-filter match the CPU (groups 1/4/16, k 1/3/7/9)",
  (gpu) => {
    const cases = [
      convGeometry(2, 16, 12, 32, 1, 1, 1),
      convGeometry(2, 16, 12, 32, 3, 1, 1),
      convGeometry(2, 16, 12, 32, 3, 2, 1),
      convGeometry(2, 16, 13, 16, 3, 1, 4),
      convGeometry(2, 32, 11, 32, 5, 1, 16),
      convGeometry(2, 32, 10, 64, 7, 2, 4),
      convGeometry(1, 64, 9, 64, 9, 1, 16),
      convGeometry(3, 3, 17, 8, 7, 2, 1),
    ];
    for (const g of cases) {
      const xs = g.batch * g.inChannels * g.inHeight * g.inWidth;
      const ws = g.outChannels * (g.inChannels / g.groups) * g.kernelH * g.kernelW;
      const ys = g.batch * g.outChannels * g.outHeight * g.outWidth;
      const x = randomArray(xs, 20), w = randomArray(ws, 21), dy = randomArray(ys, 22);
      const label = `k${g.kernelH} s${g.strideH} g${g.groups} C${g.inChannels} K${g.outChannels}`;
      // cuDNN may pick FFT or Winograd algorithms, whose float32 error grows with the number of
      // terms per output beyond the ulps of a direct sum; a layout or group mistake errs by O(1).
      const terms = (g.inChannels / g.groups) * g.kernelH * g.kernelW;
      const tol = (n: number) => scaled(1e-4, 1e-5 * Math.sqrt(n));
      compareDevices(gpu, `conv fwd ${label}`, [x, w, ys], (d, [a, b, y]) => d.conv2dForward(g, a, b, y), tol(terms));
      compareDevices(
        gpu,
        `conv bwd-data ${label}`,
        [dy, w, xs],
        (d, [a, b, dx]) => d.conv2dBackwardData(g, a, b, dx),
        tol(terms),
      );
      compareDevices(
        gpu,
        `conv bwd-filter ${label}`,
        [x, dy, ws],
        (d, [a, b, dw]) => d.conv2dBackwardFilter(g, a, b, dw),
        tol(ys / g.outChannels),
      );
    }
  },
);

gpuTest("cuda: batch norm train (with running stats), inference and backward match the CPU", (gpu) => {
  for (const g of [{ batch: 8, channels: 16, spatial: 49 }, { batch: 32, channels: 10, spatial: 1 }]) {
    const n = g.batch * g.channels * g.spatial;
    const x = randomArray(n, 30, 3).map((v, i) => v + (i % 7));
    const w = randomArray(g.channels, 31), b = randomArray(g.channels, 32);
    const rm = randomArray(g.channels, 33), rv = randomArray(g.channels, 34).map((v) => 1 + Math.abs(v));
    const tol = { rtol: 1e-4, atol: 1e-5 };
    compareDevices(
      gpu,
      `bn train ${g.spatial}`,
      [x, w, b, rm, rv, n, g.channels, g.channels],
      (d, [x_, w_, b_, rm_, rv_, y, sm, si]) => d.batchNormTrain(g, x_, w_, b_, rm_, rv_, 0.1, 1e-5, y, sm, si),
      tol,
    );
    compareDevices(
      gpu,
      `bn train without running stats`,
      [x, w, b, n, g.channels, g.channels],
      (d, [x_, w_, b_, y, sm, si]) => d.batchNormTrain(g, x_, w_, b_, null, null, 0.1, 1e-5, y, sm, si),
      tol,
    );
    compareDevices(
      gpu,
      `bn infer ${g.spatial}`,
      [x, w, b, rm, rv, n],
      (d, [x_, w_, b_, rm_, rv_, y]) => d.batchNormInfer(g, x_, w_, b_, rm_, rv_, 1e-5, y),
      tol,
    );
    compareDevices(gpu, `bn backward ${g.spatial}`, [
      x,
      w,
      b,
      randomArray(n, 35),
      n,
      g.channels,
      g.channels,
      n,
      g.channels,
      g.channels,
    ], (d, [x_, w_, b_, dy, y, sm, si, dx, dw, db]) => {
      d.batchNormTrain(g, x_, w_, b_, null, null, 0.1, 1e-5, y, sm, si);
      d.batchNormBackward(g, x_, dy, w_, sm, si, dx, dw, db);
    }, { rtol: 1e-4, atol: 1e-4 });
  }
});

function poolGeometry(
  batch: number,
  channels: number,
  h: number,
  w: number,
  k: number,
  s: number,
  p: number,
): Pool2dGeometry {
  return {
    batch,
    channels,
    inHeight: h,
    inWidth: w,
    outHeight: Math.floor((h + 2 * p - k) / s) + 1,
    outWidth: Math.floor((w + 2 * p - k) / s) + 1,
    kernelH: k,
    kernelW: k,
    strideH: s,
    strideW: s,
    padH: p,
    padW: p,
  };
}

gpuTest("cuda: max pooling (padding, ties) and adaptive average pooling match the CPU", (gpu) => {
  for (
    const g of [
      poolGeometry(2, 8, 16, 15, 3, 2, 1),
      poolGeometry(2, 4, 9, 9, 2, 2, 0),
      poolGeometry(1, 3, 7, 7, 3, 1, 1),
    ]
  ) {
    const n = g.batch * g.channels * g.inHeight * g.inWidth;
    const outs = g.batch * g.channels * g.outHeight * g.outWidth;
    // Rounded values make ties, as after ReLU: the gradient must go to the first maximum.
    const x = randomArray(n, 40, 3).map((v) => Math.max(0, Math.round(v)));
    compareDevices(gpu, `max pool k${g.kernelH} s${g.strideH} p${g.padH}`, [
      x,
      outs,
      randomArray(outs, 41),
      n,
    ], (d, [a, y, dy, dx]) => {
      d.maxPool2dForward(g, a, y);
      d.maxPool2dBackward(g, a, y, dy, dx);
    }, { rtol: 0, atol: 0 });
  }
  for (
    const [h, w, oh, ow] of [[7, 7, 1, 1], [56, 56, 1, 1], [10, 9, 3, 4], [8, 8, 2, 2], [5, 7, 5, 7], [
      6,
      6,
      4,
      4,
    ]]
  ) {
    const g = { ...poolGeometry(2, 6, h, w, 1, 1, 0), outHeight: oh, outWidth: ow };
    const n = 2 * 6 * h * w, outs = 2 * 6 * oh * ow;
    compareDevices(gpu, `adaptive avg ${h}x${w} -> ${oh}x${ow}`, [
      randomArray(n, 42),
      outs,
      randomArray(outs, 43),
      n,
    ], (d, [a, y, dy, dx]) => {
      d.adaptiveAvgPool2dForward(g, a, y);
      d.adaptiveAvgPool2dBackward(g, dy, dx);
    }, { rtol: 1e-5, atol: 1e-6 });
  }
});

gpuTest("cuda: softmax, log-softmax and cross entropy with label smoothing match the CPU", (gpu) => {
  for (
    const g of [{ outer: 8, axis: 10, inner: 1 }, { outer: 4, axis: 4, inner: 64 }, {
      outer: 2,
      axis: 1000,
      inner: 3,
    }]
  ) {
    const n = g.outer * g.axis * g.inner;
    for (const log of [false, true]) {
      compareDevices(gpu, `softmax ${JSON.stringify(g)} log=${log}`, [
        randomArray(n, 50, 5),
        n,
        randomArray(n, 51),
        n,
      ], (d, [x, y, dy, dx]) => {
        d.softmaxForward(g, x, y, log);
        d.softmaxBackward(g, y, dy, dx, log);
      }, { rtol: 1e-5, atol: 1e-6 });
    }
  }
  for (const [batch, classes] of [[16, 10], [5, 1000], [3, 37]]) {
    const targets = Int32Array.from({ length: batch }, (_, i) => (i * 7) % classes);
    for (const smoothing of [0, 0.1]) {
      compareDevices(gpu, `cross entropy ${batch}x${classes} s=${smoothing}`, [
        randomArray(batch * classes, 52, 4),
        batch,
        randomArray(batch, 53),
        batch * classes,
      ], (d, [logits, losses, dLoss, dlogits]) => {
        d.crossEntropyForward(batch, classes, logits, targets, smoothing, losses);
        d.crossEntropyBackward(batch, classes, logits, targets, smoothing, dLoss, dlogits);
      }, { rtol: 1e-5, atol: 1e-6 });
    }
  }
  const logits = gpu.alloc(20, "float32");
  const losses = gpu.alloc(2, "float32");
  assertThrows(
    () => gpu.crossEntropyForward(2, 10, logits, new Int32Array([3, 10]), 0, losses),
    /target 10 of sample 1 is outside \[0, 10\)/,
  );
  gpu.free(logits);
  gpu.free(losses);
});

gpuTest("cuda: SGD and Adam updates match the CPU", (gpu) => {
  const n = 5000;
  const p = randomArray(n, 60),
    g = randomArray(n, 61),
    m = randomArray(n, 62),
    v = randomArray(n, 63).map(Math.abs);
  const tol = { rtol: 1e-5, atol: 1e-6 };
  for (const nesterov of [false, true]) {
    for (const firstStep of [false, true]) {
      const args = { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 1e-4, nesterov, firstStep };
      compareDevices(
        gpu,
        `sgd ${JSON.stringify(args)}`,
        [p, g, m],
        (d, [p_, g_, b_]) => d.sgdUpdate(p_, g_, b_, args),
        tol,
      );
    }
  }
  const plain = { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, firstStep: true };
  compareDevices(gpu, "sgd without momentum", [p, g], (d, [p_, g_]) => d.sgdUpdate(p_, g_, null, plain), tol);
  for (const decoupled of [false, true]) {
    const args = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled, step: 3 };
    compareDevices(
      gpu,
      `adam decoupled=${decoupled}`,
      [p, g, m, v],
      (d, [p_, g_, m_, v_]) => d.adamUpdate(p_, g_, m_, v_, args),
      tol,
    );
  }
});

gpuTest("cuda: a training-like step reuses memory: no growth over 20 iterations", (gpu) => {
  const g = convGeometry(8, 16, 28, 32, 3, 1, 4);
  const xs = g.batch * g.inChannels * g.inHeight * g.inWidth;
  const ws = g.outChannels * (g.inChannels / g.groups) * 9;
  const ys = g.batch * g.outChannels * g.outHeight * g.outWidth;
  const before = gpu.memory().allocatedBytes;
  const reserved: number[] = [];
  const allocated: number[] = [];
  for (let step = 0; step < 20; step++) {
    const x = gpu.alloc(xs, "float32"), w = gpu.alloc(ws, "float32"), y = gpu.alloc(ys, "float32");
    gpu.fill(x, 0.5);
    gpu.fill(w, 0.25);
    gpu.conv2dForward(g, x, w, y);
    const r = gpu.alloc(ys, "float32");
    gpu.unary("relu", y, r);
    const dx = gpu.alloc(xs, "float32"), dw = gpu.alloc(ws, "float32");
    gpu.conv2dBackwardData(g, r, w, dx);
    gpu.conv2dBackwardFilter(g, x, r, dw);
    gpu.axpy(-0.1, dw, w);
    const s = gpu.alloc(1, "float32");
    gpu.sumTo(y, [ys], s, [1]);
    gpu.read(s);
    for (const b of [r, y, s, dx, x, dw, w]) gpu.free(b);
    allocated.push(gpu.memory().allocatedBytes);
    reserved.push(gpu.memory().reservedBytes);
  }
  // The cuDNN workspace stays allocated between calls; everything else returns to the cache.
  assert.ok(allocated.every((a) => a === allocated[0]), `allocated bytes: ${allocated}`);
  assert.ok(allocated[0] - before <= 256 * 1024 * 1024, "only the workspace stays");
  assert.ok(
    reserved.every((r) => r === reserved[0]),
    `reserved bytes stop growing after the first step: ${reserved}`,
  );
});
