/**
 * The oneDNN 2.x runtime shared by the CPU device's oneDNN kernels: loading libdnnl.so.2 (once),
 * status checks, memory descriptors and objects, and "passes" (a primitive with reorders between
 * our plain layouts and the layouts the primitive prefers).
 *
 * Set `EPSANET_ONEDNN=none` to use the TypeScript kernels instead, or to a file / folder to choose
 * the library (one that cannot be used is an error); ffi/dnnl.ts holds the search.
 *
 * @module
 */

import {
  DNNL_ARG,
  DNNL_CPU,
  DNNL_EXEC_ARG_BYTES,
  DNNL_F32,
  DNNL_MAX_NDIMS,
  DNNL_MEMORY_DESC_BYTES,
  DNNL_STREAM_DEFAULT_FLAGS,
  DNNL_SUCCESS,
  type DNNL_SYMBOLS,
  dnnlVersion,
} from "../../../ffi/dnnl.ts";
import { openOneDnn } from "../native_libraries.ts";

export type Dnnl = Deno.DynamicLibrary<typeof DNNL_SYMBOLS>["symbols"];
/** A native pointer. */
export type Pointer = Deno.PointerValue;

/** The loaded library with its CPU engine and stream. */
export interface Runtime {
  lib: Dnnl;
  engine: Pointer;
  stream: Pointer;
}

let runtime: Runtime | null | undefined;
let detail = "not loaded yet";

const STATUS = [
  "success",
  "out_of_memory",
  "invalid_arguments",
  "unimplemented",
  "iterator_ends",
  "runtime_error",
  "not_required",
];

/** Throws `call: dnnl_<status>` unless the call succeeded. */
export function check(status: number, call: string): void {
  if (status !== DNNL_SUCCESS) throw new Error(`${call}: dnnl_${STATUS[status] ?? `status ${status}`}`);
}

/** An out-parameter slot for a handle. */
export function handleOut(): BigUint64Array {
  return new BigUint64Array(1);
}

/** The handle written into an out-parameter slot. */
export function pointerOf(out: BigUint64Array): Pointer {
  return Deno.UnsafePointer.create(out[0]);
}

/**
 * Whether oneDNN convolutions are in use, and why not otherwise.
 *
 * @returns `{ available, detail }`: the library and version, or the reason for the fallback.
 * @example
 * ```ts
 * import { oneDnnInfo } from "./runtime.ts";
 * console.log(oneDnnInfo().detail);
 * ```
 */
export function oneDnnInfo(): { available: boolean; detail: string } {
  return { available: loadOneDnn() !== null, detail };
}

/**
 * The oneDNN runtime, loaded on first use; null when unavailable (see {@linkcode oneDnnInfo}).
 * Without oneDNN, convolutions use im2col + GEMM and one line on stderr says so.
 */
export function loadOneDnn(): Runtime | null {
  if (runtime !== undefined) return runtime;
  const opened = openOneDnn();
  if (!opened.library) {
    runtime = null;
    detail = opened.reason;
    return runtime;
  }
  const lib = opened.library.symbols;
  const engine = handleOut();
  check(lib.dnnl_engine_create(engine, DNNL_CPU, 0n), "dnnl_engine_create");
  const stream = handleOut();
  check(lib.dnnl_stream_create(stream, pointerOf(engine), DNNL_STREAM_DEFAULT_FLAGS), "dnnl_stream_create");
  runtime = { lib, engine: pointerOf(engine), stream: pointerOf(stream) };
  detail = `oneDNN ${dnnlVersion(lib).join(".")} (${opened.path})`;
  return runtime;
}

/** A `dnnl_dims_t`. */
export function dims(values: readonly number[]): BigInt64Array {
  const out = new BigInt64Array(DNNL_MAX_NDIMS);
  values.forEach((v, i) => (out[i] = BigInt(v)));
  return out;
}

/** A memory descriptor in a byte buffer (kept alive by the caller). */
export function memoryDesc(rt: Runtime, shape: readonly number[], tag: number): Uint8Array {
  const md = new Uint8Array(DNNL_MEMORY_DESC_BYTES);
  check(
    rt.lib.dnnl_memory_desc_init_by_tag(Deno.UnsafePointer.of(md), shape.length, dims(shape), DNNL_F32, tag),
    "dnnl_memory_desc_init_by_tag",
  );
  return md;
}

/** One tensor argument of a primitive: our layout, and the primitive's when it differs. */
export interface Operand {
  /** Memory in our layout; its data handle is set per call. */
  user: Pointer;
  /** Reorder into (inputs) or out of (outputs) the primitive's layout, with its exec args. */
  reorder: { primitive: Pointer; args: Uint8Array } | null;
  /** Keeps the primitive-layout buffer alive. */
  scratch: Float32Array | null;
  output: boolean;
}

/** An executable primitive with its operands in call order. */
export interface Pass {
  primitive: Pointer;
  args: Uint8Array;
  operands: Operand[];
}

/** A `dnnl_exec_arg_t` array. */
export function execArgs(entries: readonly [number, Pointer][]): Uint8Array {
  const bytes = new Uint8Array(entries.length * DNNL_EXEC_ARG_BYTES);
  const view = new DataView(bytes.buffer);
  entries.forEach(([arg, memory], i) => {
    view.setInt32(i * DNNL_EXEC_ARG_BYTES, arg, true);
    view.setBigUint64(i * DNNL_EXEC_ARG_BYTES + 8, Deno.UnsafePointer.value(memory), true);
  });
  return bytes;
}

/** A memory object over `data` (or no data yet). */
export function createMemory(rt: Runtime, md: Pointer, data: Pointer): Pointer {
  const out = handleOut();
  check(rt.lib.dnnl_memory_create(out, md, rt.engine, data), "dnnl_memory_create");
  return pointerOf(out);
}

/** A primitive from its descriptor. */
export function createPrimitive(rt: Runtime, pd: Pointer, call: string): Pointer {
  const out = handleOut();
  check(rt.lib.dnnl_primitive_create(out, pd), call);
  return pointerOf(out);
}

/** Builds a pass for `pd`; each spec: [exec arg, md query, our md, is output]. */
export function makePass(rt: Runtime, pd: Pointer, specs: readonly [number, number, Uint8Array, boolean][]): Pass {
  const entries: [number, Pointer][] = [];
  const operands = specs.map(([arg, query, userMd, output]): Operand => {
    const userPtr = Deno.UnsafePointer.of(userMd);
    const innerMd = rt.lib.dnnl_primitive_desc_query_md(pd, query, 0);
    const user = createMemory(rt, userPtr, null);
    if (rt.lib.dnnl_memory_desc_equal(innerMd, userPtr) === 1) {
      entries.push([arg, user]);
      return { user, reorder: null, scratch: null, output };
    }
    const bytes = Number(rt.lib.dnnl_memory_desc_get_size(innerMd));
    const scratch = new Float32Array(new ArrayBuffer(Math.max(bytes, 4)));
    const inner = createMemory(rt, innerMd, Deno.UnsafePointer.of(scratch));
    const reorderPd = handleOut();
    const [from, to] = output ? [innerMd, userPtr] : [userPtr, innerMd];
    check(
      rt.lib.dnnl_reorder_primitive_desc_create(reorderPd, from, rt.engine, to, rt.engine, null),
      "dnnl_reorder_primitive_desc_create",
    );
    const reorder = createPrimitive(rt, pointerOf(reorderPd), "dnnl_primitive_create(reorder)");
    const args = execArgs(
      output ? [[DNNL_ARG.from, inner], [DNNL_ARG.to, user]] : [[DNNL_ARG.from, user], [DNNL_ARG.to, inner]],
    );
    entries.push([arg, inner]);
    return { user, reorder: { primitive: reorder, args }, scratch, output };
  });
  return {
    primitive: createPrimitive(rt, pd, "dnnl_primitive_create(convolution)"),
    args: execArgs(entries),
    operands,
  };
}

/** Executes a primitive on the stream. */
export function execute(rt: Runtime, primitive: Pointer, args: Uint8Array, call: string): void {
  check(rt.lib.dnnl_primitive_execute(primitive, rt.stream, args.length / DNNL_EXEC_ARG_BYTES, args), call);
}

/**
 * Runs a pass over our arrays (in operand order): reorders in, primitive, reorders out. The
 * primitives are float32: the CPU device routes only float32 buffers to oneDNN.
 */
export function run(rt: Runtime, pass: Pass, data: readonly (Float32Array | Float64Array)[]): void {
  pass.operands.forEach((op, i) => {
    check(
      rt.lib.dnnl_memory_set_data_handle(op.user, Deno.UnsafePointer.of(data[i])),
      "dnnl_memory_set_data_handle",
    );
  });
  for (const op of pass.operands) {
    if (!op.output && op.reorder) execute(rt, op.reorder.primitive, op.reorder.args, "reorder");
  }
  execute(rt, pass.primitive, pass.args, "dnnl_primitive_execute");
  for (const op of pass.operands) {
    if (op.output && op.reorder) execute(rt, op.reorder.primitive, op.reorder.args, "reorder");
  }
  check(rt.lib.dnnl_stream_wait(rt.stream), "dnnl_stream_wait");
}

/**
 * A pass whose operands all use the given layouts exactly (no reorders): for primitives that take
 * plain layouts, such as batch normalisation.
 *
 * @param rt The runtime.
 * @param pd The primitive descriptor.
 * @param specs `[exec arg, our memory descriptor, is output]` per operand, in `run()` order.
 * @returns The pass.
 */
export function makeDirectPass(rt: Runtime, pd: Pointer, specs: readonly [number, Uint8Array, boolean][]): Pass {
  const operands = specs.map(([, md, output]): Operand => ({
    user: createMemory(rt, Deno.UnsafePointer.of(md), null),
    reorder: null,
    scratch: null,
    output,
  }));
  const args = execArgs(specs.map(([arg], i) => [arg, operands[i].user]));
  return { primitive: createPrimitive(rt, pd, "dnnl_primitive_create"), args, operands };
}

/**
 * `build()`'s result for `key`, built on first use and cached. When oneDNN refuses to build
 * (e.g. an older library lacks the primitive), null is cached instead and the caller falls back to
 * its TypeScript kernel.
 *
 * @param cache The caller's cache.
 * @param key What the result depends on.
 * @param build Creates the primitives; may throw.
 * @returns The cached result, or null.
 * @example
 * ```ts
 * import { buildOnce } from "./runtime.ts";
 * const cache = new Map<string, number | null>();
 * buildOnce(cache, "a", () => 1); // 1, and built only once
 * ```
 */
export function buildOnce<T>(cache: Map<string, T | null>, key: string, build: () => T): T | null {
  if (!cache.has(key)) {
    let value: T | null = null;
    try {
      value = build();
    } catch {
      value = null;
    }
    cache.set(key, value);
  }
  return cache.get(key) ?? null;
}
