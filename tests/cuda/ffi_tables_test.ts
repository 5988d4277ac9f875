/**
 * The CUDA FFI tables against the libraries and C headers that can be found (EPSANET_CUDA_LIBS, EPSANET_CUDA_HEADERS).
 *
 * @module
 */

import assert from "node:assert/strict";
import { CUBLAS_SYMBOLS } from "../../ffi/cublas.ts";
import { CUDA_SYMBOLS } from "../../ffi/cuda.ts";
import { CUDA_SPECS, type CudaLibraryName } from "../../ffi/cuda_libraries.ts";
import { CUDNN_SYMBOLS } from "../../ffi/cudnn.ts";
import { LibraryNotFoundError, type LibrarySpec, openLibrary } from "../../ffi/load.ts";
import { NVRTC_SYMBOLS } from "../../ffi/nvrtc.ts";
import { sitePackages } from "../../ffi/places.ts";
import { StatusCheck } from "../../nn/cuda/check.ts";
import { compileCached } from "../../nn/cuda/compile.ts";
import { KERNEL_MODULES } from "../../nn/cuda/embed.ts";
import { KERNEL_SOURCES } from "../../nn/cuda/kernels.ts";
import type { KernelArg } from "../../nn/cuda/signatures.ts";
import { assertThrows, granted } from "../helpers.ts";
import { assertSignatures, canLook, exists, parsePtxEntries, testIf } from "./support.ts";

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
    const spec: LibrarySpec = CUDA_SPECS[name];
    return { path: openLibrary(spec, {}).path, reason: "" };
  } catch (error) {
    const summary = error instanceof LibraryNotFoundError ? error.summary : String(error);
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
  const { library } = openLibrary(CUDA_SPECS.driver, CUDA_SYMBOLS);
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
  const { library } = openLibrary(CUDA_SPECS.cublas, CUBLAS_SYMBOLS);
  assertThrows(
    () => new StatusCheck({ cublas: library }).cublas("cublasSgemm_v2", 7),
    /^cublasSgemm_v2: CUBLAS_STATUS_INVALID_VALUE \(.+\)$/,
  );
});

testIf(
  "NVRTC compiles every kernel module (sm_90 CUBIN, cached; PTX parameters match)",
  opened.nvrtc.reason,
  () => {
    const { library } = openLibrary(CUDA_SPECS.nvrtc, NVRTC_SYMBOLS);
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
