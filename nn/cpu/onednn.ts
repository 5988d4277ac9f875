/**
 * float32 convolutions on the CPU through oneDNN 2.x (libdnnl.so.2), the library PyTorch uses.
 *
 * Per geometry we build, once, the forward primitive and (with it as hint) the backward-data and
 * backward-weights primitives, letting oneDNN choose its preferred memory layouts ("any"). Our
 * tensors stay NCHW / OIHW: each call reorders inputs into the primitive's layout and outputs back,
 * as PyTorch's ideep does. Direct convolution only (no Winograd), fp32 math.
 *
 * Set `EPSANET_ONEDNN=none` to use the im2col path instead, or to a file / folder to choose the
 * library.
 *
 * @module
 */

import {
  DNNL_ABCD,
  DNNL_ABCDE,
  DNNL_ARG,
  DNNL_CONVOLUTION_DESC_BYTES,
  DNNL_CONVOLUTION_DIRECT,
  DNNL_CPU,
  DNNL_EXEC_ARG_BYTES,
  DNNL_F32,
  DNNL_FORMAT_ANY,
  DNNL_FORWARD_TRAINING,
  DNNL_MAX_NDIMS,
  DNNL_MEMORY_DESC_BYTES,
  DNNL_QUERY,
  DNNL_STREAM_DEFAULT_FLAGS,
  DNNL_SUCCESS,
  DNNL_SYMBOLS,
} from "../../ffi/dnnl.ts";
import { hasPermission, LibraryNotFoundError, openLibrary, readEnv } from "../../ffi/load.ts";
import type { Conv2dGeometry } from "../device.ts";

type Dnnl = Deno.DynamicLibrary<typeof DNNL_SYMBOLS>["symbols"];
type Pointer = Deno.PointerValue;

interface Runtime {
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

function check(status: number, call: string): void {
  if (status !== DNNL_SUCCESS) throw new Error(`${call}: dnnl_${STATUS[status] ?? `status ${status}`}`);
}

function handleOut(): BigUint64Array {
  return new BigUint64Array(1);
}

function pointerOf(out: BigUint64Array): Pointer {
  return Deno.UnsafePointer.create(out[0]);
}

/**
 * Whether oneDNN convolutions are in use, and why not otherwise.
 *
 * @returns `{ available, detail }`: the library and version, or the reason for the fallback.
 * @example
 * ```ts
 * import { oneDnnInfo } from "./onednn.ts";
 * console.log(oneDnnInfo().detail);
 * ```
 */
export function oneDnnInfo(): { available: boolean; detail: string } {
  return { available: load() !== null, detail };
}

function load(): Runtime | null {
  if (runtime !== undefined) return runtime;
  runtime = null;
  if (readEnv("EPSANET_ONEDNN") === "none") {
    detail = "EPSANET_ONEDNN=none";
    return runtime;
  }
  if (!hasPermission("ffi")) {
    detail = "no --allow-ffi permission";
    return runtime;
  }
  try {
    const { library, path } = openLibrary({
      label: "oneDNN 2.x",
      envVar: "EPSANET_ONEDNN",
      sonames: ["libdnnl.so.2"],
      dirs: [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/local/lib",
        "/opt/intel/oneapi/dnnl/latest/lib",
      ],
      installHint: "Install it (Debian: apt-get install libdnnl2)",
    }, DNNL_SYMBOLS);
    const lib = library.symbols;
    const version = new Deno.UnsafePointerView(lib.dnnl_version()!);
    const [major, minor, patch] = [version.getInt32(0), version.getInt32(4), version.getInt32(8)];
    if (major !== 2) {
      detail = `${path} is oneDNN ${major}.${minor}.${patch}; only 2.x is supported`;
      library.close();
      return runtime;
    }
    const engine = handleOut();
    check(lib.dnnl_engine_create(engine, DNNL_CPU, 0n), "dnnl_engine_create");
    const stream = handleOut();
    check(lib.dnnl_stream_create(stream, pointerOf(engine), DNNL_STREAM_DEFAULT_FLAGS), "dnnl_stream_create");
    runtime = { lib, engine: pointerOf(engine), stream: pointerOf(stream) };
    detail = `oneDNN ${major}.${minor}.${patch} (${path})`;
  } catch (error) {
    if (!(error instanceof LibraryNotFoundError)) throw error;
    detail = "libdnnl.so.2 not found (apt-get install libdnnl2)";
  }
  return runtime;
}

function dims(values: readonly number[]): BigInt64Array {
  const out = new BigInt64Array(DNNL_MAX_NDIMS);
  values.forEach((v, i) => (out[i] = BigInt(v)));
  return out;
}

/** A memory descriptor in a byte buffer (kept alive by the caller). */
function memoryDesc(rt: Runtime, shape: readonly number[], tag: number): Uint8Array {
  const md = new Uint8Array(DNNL_MEMORY_DESC_BYTES);
  check(
    rt.lib.dnnl_memory_desc_init_by_tag(Deno.UnsafePointer.of(md), shape.length, dims(shape), DNNL_F32, tag),
    "dnnl_memory_desc_init_by_tag",
  );
  return md;
}

/** One tensor argument of a primitive: our layout, and the primitive's when it differs. */
interface Operand {
  /** Memory in our layout; its data handle is set per call. */
  user: Pointer;
  /** Reorder into (inputs) or out of (outputs) the primitive's layout, with its exec args. */
  reorder: { primitive: Pointer; args: Uint8Array } | null;
  /** Keeps the primitive-layout buffer alive. */
  scratch: Float32Array | null;
  output: boolean;
}

/** An executable primitive with its operands in call order. */
interface Pass {
  primitive: Pointer;
  args: Uint8Array;
  operands: Operand[];
}

function execArgs(entries: readonly [number, Pointer][]): Uint8Array {
  const bytes = new Uint8Array(entries.length * DNNL_EXEC_ARG_BYTES);
  const view = new DataView(bytes.buffer);
  entries.forEach(([arg, memory], i) => {
    view.setInt32(i * DNNL_EXEC_ARG_BYTES, arg, true);
    view.setBigUint64(i * DNNL_EXEC_ARG_BYTES + 8, Deno.UnsafePointer.value(memory), true);
  });
  return bytes;
}

function createMemory(rt: Runtime, md: Pointer, data: Pointer): Pointer {
  const out = handleOut();
  check(rt.lib.dnnl_memory_create(out, md, rt.engine, data), "dnnl_memory_create");
  return pointerOf(out);
}

function createPrimitive(rt: Runtime, pd: Pointer, call: string): Pointer {
  const out = handleOut();
  check(rt.lib.dnnl_primitive_create(out, pd), call);
  return pointerOf(out);
}

/** Builds a pass for `pd`; each spec: [exec arg, md query, our md, is output]. */
function makePass(rt: Runtime, pd: Pointer, specs: readonly [number, number, Uint8Array, boolean][]): Pass {
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

function execute(rt: Runtime, primitive: Pointer, args: Uint8Array, call: string): void {
  check(rt.lib.dnnl_primitive_execute(primitive, rt.stream, args.length / DNNL_EXEC_ARG_BYTES, args), call);
}

function run(rt: Runtime, pass: Pass, data: readonly Float32Array[]): void {
  pass.operands.forEach((op, i) => {
    check(
      rt.lib.dnnl_memory_set_data_handle(op.user, Deno.UnsafePointer.of(data[i])),
      "dnnl_memory_set_data_handle",
    );
  });
  for (const op of pass.operands) {
    if (!op.output && op.reorder) execute(rt, op.reorder.primitive, op.reorder.args, "reorder");
  }
  execute(rt, pass.primitive, pass.args, "dnnl_primitive_execute(convolution)");
  for (const op of pass.operands) {
    if (op.output && op.reorder) execute(rt, op.reorder.primitive, op.reorder.args, "reorder");
  }
  check(rt.lib.dnnl_stream_wait(rt.stream), "dnnl_stream_wait");
}

/** The three passes of one geometry, built on first use. */
interface ConvPlan {
  forwardPd: Pointer;
  descs: { src: Uint8Array; weights: Uint8Array; dst: Uint8Array; any: Uint8Array[] };
  window: { strides: BigInt64Array; dilates: BigInt64Array; padding: BigInt64Array };
  forward?: Pass;
  backwardData?: Pass;
  backwardWeights?: Pass;
}

const plans = new Map<string, ConvPlan>();

function weightShape(g: Conv2dGeometry): number[] {
  const perGroup = g.inChannels / g.groups;
  return g.groups === 1
    ? [g.outChannels, perGroup, g.kernelH, g.kernelW]
    : [g.groups, g.outChannels / g.groups, perGroup, g.kernelH, g.kernelW];
}

function planFor(rt: Runtime, g: Conv2dGeometry): ConvPlan {
  const key = Object.values(g).join(",");
  const cached = plans.get(key);
  if (cached) return cached;
  const srcShape = [g.batch, g.inChannels, g.inHeight, g.inWidth];
  const dstShape = [g.batch, g.outChannels, g.outHeight, g.outWidth];
  const wShape = weightShape(g);
  const any = [
    memoryDesc(rt, srcShape, DNNL_FORMAT_ANY),
    memoryDesc(rt, wShape, DNNL_FORMAT_ANY),
    memoryDesc(rt, dstShape, DNNL_FORMAT_ANY),
  ];
  // oneDNN counts dilation from 0; right padding = left padding gives PyTorch's floor rule.
  const window = {
    strides: dims([g.strideH, g.strideW]),
    dilates: dims([g.dilationH - 1, g.dilationW - 1]),
    padding: dims([g.padH, g.padW]),
  };
  const desc = new Uint8Array(DNNL_CONVOLUTION_DESC_BYTES);
  const p = (b: Uint8Array) => Deno.UnsafePointer.of(b);
  check(
    rt.lib.dnnl_dilated_convolution_forward_desc_init(
      p(desc),
      DNNL_FORWARD_TRAINING,
      DNNL_CONVOLUTION_DIRECT,
      p(any[0]),
      p(any[1]),
      null,
      p(any[2]),
      window.strides,
      window.dilates,
      window.padding,
      window.padding,
    ),
    "dnnl_dilated_convolution_forward_desc_init",
  );
  const pd = handleOut();
  check(
    rt.lib.dnnl_primitive_desc_create(pd, p(desc), null, rt.engine, null),
    "dnnl_primitive_desc_create(forward)",
  );
  const plan: ConvPlan = {
    forwardPd: pointerOf(pd),
    descs: {
      src: memoryDesc(rt, srcShape, DNNL_ABCD),
      weights: memoryDesc(rt, wShape, g.groups === 1 ? DNNL_ABCD : DNNL_ABCDE),
      dst: memoryDesc(rt, dstShape, DNNL_ABCD),
      any,
    },
    window,
  };
  plans.set(key, plan);
  return plan;
}

function backwardPd(rt: Runtime, plan: ConvPlan, weights: boolean): Pointer {
  const p = (b: Uint8Array) => Deno.UnsafePointer.of(b);
  const [src, w, dst] = plan.descs.any;
  const { strides, dilates, padding } = plan.window;
  const desc = new Uint8Array(DNNL_CONVOLUTION_DESC_BYTES);
  if (weights) {
    check(
      rt.lib.dnnl_dilated_convolution_backward_weights_desc_init(
        p(desc),
        DNNL_CONVOLUTION_DIRECT,
        p(src),
        p(w),
        null,
        p(dst),
        strides,
        dilates,
        padding,
        padding,
      ),
      "dnnl_dilated_convolution_backward_weights_desc_init",
    );
  } else {
    check(
      rt.lib.dnnl_dilated_convolution_backward_data_desc_init(
        p(desc),
        DNNL_CONVOLUTION_DIRECT,
        p(src),
        p(w),
        p(dst),
        strides,
        dilates,
        padding,
        padding,
      ),
      "dnnl_dilated_convolution_backward_data_desc_init",
    );
  }
  const pd = handleOut();
  check(
    rt.lib.dnnl_primitive_desc_create(pd, p(desc), null, rt.engine, plan.forwardPd),
    "dnnl_primitive_desc_create(backward)",
  );
  return pointerOf(pd);
}

/**
 * `y = conv2d(x, w)` through oneDNN; false when oneDNN is unavailable (nothing was written).
 *
 * @param g Geometry.
 * @param x Input (N, C, H, W).
 * @param w Weights (K, C/groups, kh, kw).
 * @param y Output, overwritten.
 * @returns Whether oneDNN ran the convolution.
 * @example
 * ```ts
 * import { oneDnnConvForward } from "./onednn.ts";
 * // if (!oneDnnConvForward(g, x, w, y)) fallBackToIm2col();
 * ```
 */
export function oneDnnConvForward(
  g: Conv2dGeometry,
  x: Float32Array,
  w: Float32Array,
  y: Float32Array,
): boolean {
  const rt = load();
  if (!rt) return false;
  const plan = planFor(rt, g);
  plan.forward ??= makePass(rt, plan.forwardPd, [
    [DNNL_ARG.src, DNNL_QUERY.srcMd, plan.descs.src, false],
    [DNNL_ARG.weights, DNNL_QUERY.weightsMd, plan.descs.weights, false],
    [DNNL_ARG.dst, DNNL_QUERY.dstMd, plan.descs.dst, true],
  ]);
  run(rt, plan.forward, [x, w, y]);
  return true;
}

/**
 * `dx = conv2dᵀ(dy, w)` through oneDNN; false when unavailable.
 *
 * @param g Geometry.
 * @param dy Output gradient.
 * @param w Weights.
 * @param dx Input gradient, overwritten.
 * @returns Whether oneDNN ran.
 * @example
 * ```ts
 * import { oneDnnConvBackwardData } from "./onednn.ts";
 * // oneDnnConvBackwardData(g, dy, w, dx);
 * ```
 */
export function oneDnnConvBackwardData(
  g: Conv2dGeometry,
  dy: Float32Array,
  w: Float32Array,
  dx: Float32Array,
): boolean {
  const rt = load();
  if (!rt) return false;
  const plan = planFor(rt, g);
  plan.backwardData ??= makePass(rt, backwardPd(rt, plan, false), [
    [DNNL_ARG.diffDst, DNNL_QUERY.diffDstMd, plan.descs.dst, false],
    [DNNL_ARG.weights, DNNL_QUERY.weightsMd, plan.descs.weights, false],
    [DNNL_ARG.diffSrc, DNNL_QUERY.diffSrcMd, plan.descs.src, true],
  ]);
  run(rt, plan.backwardData, [dy, w, dx]);
  return true;
}

/**
 * The weight gradient through oneDNN; false when unavailable.
 *
 * @param g Geometry.
 * @param x Input.
 * @param dy Output gradient.
 * @param dw Weight gradient, overwritten.
 * @returns Whether oneDNN ran.
 * @example
 * ```ts
 * import { oneDnnConvBackwardWeights } from "./onednn.ts";
 * // oneDnnConvBackwardWeights(g, x, dy, dw);
 * ```
 */
export function oneDnnConvBackwardWeights(
  g: Conv2dGeometry,
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
): boolean {
  const rt = load();
  if (!rt) return false;
  const plan = planFor(rt, g);
  plan.backwardWeights ??= makePass(rt, backwardPd(rt, plan, true), [
    [DNNL_ARG.src, DNNL_QUERY.srcMd, plan.descs.src, false],
    [DNNL_ARG.diffDst, DNNL_QUERY.diffDstMd, plan.descs.dst, false],
    [DNNL_ARG.diffWeights, DNNL_QUERY.diffWeightsMd, plan.descs.weights, true],
  ]);
  run(rt, plan.backwardWeights, [x, dy, dw]);
  return true;
}
