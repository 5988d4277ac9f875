/**
 * Convolutions through cuDNN: forward, backward-data and backward-filter, with groups.
 *
 * Each (geometry, direction, TF32 setting) gets a plan, built once: descriptors, the algorithm
 * that `cudnnFind*` timed fastest (like PyTorch's `cudnn.benchmark`), the math type it ran with,
 * and its workspace size. The workspace comes from one shared, growing buffer. Without TF32 the
 * convolution descriptor asks for `CUDNN_FMA_MATH`, so float32 stays float32.
 *
 * @module
 */

import {
  CUDNN_ALGO_PERF_BYTES,
  CUDNN_ALGO_PERF_OFFSETS,
  CUDNN_CROSS_CORRELATION,
  CUDNN_DATA_FLOAT,
  CUDNN_DEFAULT_MATH,
  CUDNN_FMA_MATH,
} from "../../ffi/cudnn.ts";
import { type Conv2dGeometry, isEmptyConv } from "../device/geometry.ts";
import type { Conv2dBackwardDataArgs, Conv2dBackwardFilterArgs, Conv2dForwardArgs } from "../device/kernels.ts";
import { type CudaBuffer, ptr, zeroBuffer } from "./buffer.ts";
import { type AlgorithmChoice, searchAlgorithm } from "./conv_search.ts";
import { type Descriptors, ONE, ZERO } from "./descriptors.ts";
import type { CudaRuntime } from "./runtime.ts";

type Direction = "forward" | "backwardData" | "backwardFilter";

/** Everything one convolution call needs, found once per geometry and direction. */
interface ConvPlan {
  /** The cuDNN function that runs it. */
  call: (typeof DIRECTIONS)[Direction]["run"];
  conv: Deno.PointerValue;
  /** Descriptors of the call's two inputs and its output, in the call's order. */
  a: Deno.PointerValue;
  b: Deno.PointerValue;
  c: Deno.PointerValue;
  algo: number;
  workspace: number;
  workspaceBytes: bigint;
}

/** The cuDNN calls of each direction. */
const DIRECTIONS = {
  forward: {
    run: "cudnnConvolutionForward",
    find: "cudnnFindConvolutionForwardAlgorithm",
    heuristic: "cudnnGetConvolutionForwardAlgorithm_v7",
    workspace: "cudnnGetConvolutionForwardWorkspaceSize",
  },
  backwardData: {
    run: "cudnnConvolutionBackwardData",
    find: "cudnnFindConvolutionBackwardDataAlgorithm",
    heuristic: "cudnnGetConvolutionBackwardDataAlgorithm_v7",
    workspace: "cudnnGetConvolutionBackwardDataWorkspaceSize",
  },
  backwardFilter: {
    run: "cudnnConvolutionBackwardFilter",
    find: "cudnnFindConvolutionBackwardFilterAlgorithm",
    heuristic: "cudnnGetConvolutionBackwardFilterAlgorithm_v7",
    workspace: "cudnnGetConvolutionBackwardFilterWorkspaceSize",
  },
} as const;

/** More than any cuDNN 9 direction has algorithms (8 / 6 / 7). */
const REQUESTED_ALGOS = 16;

/**
 * Planned, cached cuDNN convolutions.
 *
 * @example
 * ```ts
 * import { Convolutions } from "./conv.ts";
 * // const convs = new Convolutions(runtime, descriptors);
 * // convs.forward({ geometry, x, w, y });
 * ```
 */
export class Convolutions {
  #runtime: CudaRuntime;
  #descriptors: Descriptors;
  #plans = new Map<string, ConvPlan>();
  /** Whether a fallback to the heuristic was already reported. */
  #fallback = { warned: false };

  /**
   * An empty plan cache.
   *
   * @param runtime The runtime.
   * @param descriptors The descriptor caches.
   */
  constructor(runtime: CudaRuntime, descriptors: Descriptors) {
    this.#runtime = runtime;
    this.#descriptors = descriptors;
  }

  /**
   * `y = conv(x, w)`; nothing to do for an empty geometry (cuDNN rejects zero-sized descriptors).
   *
   * @param args Geometry, input (N, C, H, W), weights (K, C / groups, kh, kw), output (overwritten).
   */
  forward(args: Conv2dForwardArgs<CudaBuffer>): void {
    if (isEmptyConv(args.geometry)) return;
    this.#run(this.#plan(args.geometry, "forward"), ptr(args.x), ptr(args.w), ptr(args.y));
  }

  /**
   * `dx = convᵀ(dy, w)`; zero for an empty geometry.
   *
   * @param args Geometry, output gradient, weights, input gradient (overwritten).
   */
  backwardData(args: Conv2dBackwardDataArgs<CudaBuffer>): void {
    if (isEmptyConv(args.geometry)) return zeroBuffer(this.#runtime, args.dx);
    this.#run(this.#plan(args.geometry, "backwardData"), ptr(args.w), ptr(args.dy), ptr(args.dx));
  }

  /**
   * `dw = dL/dw`; zero for an empty geometry (a sum over no samples).
   *
   * @param args Geometry, input, output gradient, weight gradient (overwritten).
   */
  backwardFilter(args: Conv2dBackwardFilterArgs<CudaBuffer>): void {
    if (isEmptyConv(args.geometry)) return zeroBuffer(this.#runtime, args.dw);
    this.#run(this.#plan(args.geometry, "backwardFilter"), ptr(args.x), ptr(args.dy), ptr(args.dw));
  }

  /** `c = op(a, b)` with beta 0: every direction's call has the same shape. */
  #run(p: ConvPlan, a: bigint, b: bigint, c: bigint): void {
    const { dnn, check, cudnn } = this.#runtime;
    const ws = this.#runtime.workspace(p.workspace);
    check.cudnn(p.call, dnn[p.call](cudnn, ONE, p.a, a, p.b, b, p.conv, p.algo, ws, p.workspaceBytes, ZERO, p.c, c));
  }

  #plan(g: Conv2dGeometry, direction: Direction): ConvPlan {
    const tf32 = this.#runtime.allowTf32;
    const key = `${direction} ${tf32} ${g.batch} ${g.inChannels} ${g.inHeight} ${g.inWidth} ${g.outChannels} ` +
      `${g.outHeight} ${g.outWidth} ${g.kernelH} ${g.kernelW} ${g.strideH} ${g.strideW} ${g.padH} ${g.padW} ` +
      `${g.dilationH} ${g.dilationW} ${g.groups}`;
    let plan = this.#plans.get(key);
    if (!plan) {
      plan = this.#build(g, direction, tf32);
      this.#plans.set(key, plan);
    }
    return plan;
  }

  #build(g: Conv2dGeometry, direction: Direction, tf32: boolean): ConvPlan {
    const { dnn, check, cudnn } = this.#runtime;
    const out = new BigUint64Array(1);
    check.cudnn("cudnnCreateConvolutionDescriptor", dnn.cudnnCreateConvolutionDescriptor(out));
    const conv = Deno.UnsafePointer.create(out[0]);
    check.cudnn(
      "cudnnSetConvolution2dDescriptor",
      dnn.cudnnSetConvolution2dDescriptor(
        conv,
        g.padH,
        g.padW,
        g.strideH,
        g.strideW,
        g.dilationH,
        g.dilationW,
        CUDNN_CROSS_CORRELATION,
        CUDNN_DATA_FLOAT,
      ),
    );
    check.cudnn("cudnnSetConvolutionGroupCount", dnn.cudnnSetConvolutionGroupCount(conv, g.groups));
    const math = tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
    check.cudnn("cudnnSetConvolutionMathType", dnn.cudnnSetConvolutionMathType(conv, math));
    const x = this.#descriptors.tensor(g.batch, g.inChannels, g.inHeight, g.inWidth);
    const w = this.#descriptors.filter(g.outChannels, g.inChannels / g.groups, g.kernelH, g.kernelW);
    const y = this.#descriptors.tensor(g.batch, g.outChannels, g.outHeight, g.outWidth);
    checkOutputShape(this.#runtime, g, conv, x, w);

    // Each direction's calls take its three tensors in its own order: input, input, output.
    const api = DIRECTIONS[direction];
    const [a, b, c] = direction === "forward" ? [x, w, y] : direction === "backwardData" ? [w, y, x] : [x, y, w];
    const choice = this.#find(direction, a, b, conv, c, tf32);
    check.cudnn(
      "cudnnSetConvolutionMathType",
      dnn.cudnnSetConvolutionMathType(conv, tf32 ? choice.mathType : CUDNN_FMA_MATH),
    );
    const size = new BigUint64Array(1);
    check.cudnn(api.workspace, dnn[api.workspace](cudnn, a, b, conv, c, choice.algo, size));
    return { call: api.run, conv, a, b, c, algo: choice.algo, workspace: Number(size[0]), workspaceBytes: size[0] };
  }

  /**
   * The fastest algorithm `cudnnFind*` measured, retried once with the allocator's cache
   * released when Find may have run out of memory; its heuristic `_v7` pick when Find still fails.
   */
  #find(
    direction: Direction,
    a: Deno.PointerValue,
    b: Deno.PointerValue,
    conv: Deno.PointerValue,
    c: Deno.PointerValue,
    tf32: boolean,
  ): AlgorithmChoice {
    const { dnn, check, cudnn, allocator } = this.#runtime;
    const perf = new Uint8Array(CUDNN_ALGO_PERF_BYTES * REQUESTED_ALGOS);
    const count = new Int32Array(1);
    const run = (name: (typeof DIRECTIONS)[Direction]["find" | "heuristic"]) => (): AlgorithmChoice | null => {
      count[0] = 0;
      check.cudnn(name, dnn[name](cudnn, a, b, conv, c, REQUESTED_ALGOS, count, perf));
      return pickAlgorithm(perf, count[0], tf32);
    };
    return searchAlgorithm(`${direction} convolution`, {
      find: run(DIRECTIONS[direction].find),
      heuristic: run(DIRECTIONS[direction].heuristic),
      releaseCache: () => allocator.emptyCache(),
      warn: (line) => console.warn(line),
    }, this.#fallback);
  }
}

/**
 * The first successful entry of a perf array (cuDNN sorts them fastest first); without TF32,
 * the first one that ran with FMA math.
 *
 * @param perf `cudnnConvolution*AlgoPerf_t[]` bytes.
 * @param count Entries cuDNN returned.
 * @param tf32 Whether TF32 math is allowed.
 * @returns The algorithm and its math type, or null.
 * @example
 * ```ts
 * import { pickAlgorithm } from "./conv.ts";
 * pickAlgorithm(new Uint8Array(48), 1, false); // { algo: 0, mathType: 0 }: status 0 (success)
 * ```
 */
export function pickAlgorithm(
  perf: Uint8Array,
  count: number,
  tf32: boolean,
): AlgorithmChoice | null {
  const view = new DataView(perf.buffer, perf.byteOffset, perf.byteLength);
  let fallback: AlgorithmChoice | null = null;
  for (let i = 0; i < count; i++) {
    const o = i * CUDNN_ALGO_PERF_BYTES;
    if (view.getInt32(o + CUDNN_ALGO_PERF_OFFSETS.status, true) !== 0) continue;
    const choice = {
      algo: view.getInt32(o + CUDNN_ALGO_PERF_OFFSETS.algo, true),
      mathType: view.getInt32(o + CUDNN_ALGO_PERF_OFFSETS.mathType, true),
    };
    if (tf32 || choice.mathType === CUDNN_FMA_MATH) return choice;
    fallback ??= choice;
  }
  return fallback;
}

function checkOutputShape(
  runtime: CudaRuntime,
  g: Conv2dGeometry,
  conv: Deno.PointerValue,
  x: Deno.PointerValue,
  w: Deno.PointerValue,
): void {
  const dims = [new Int32Array(1), new Int32Array(1), new Int32Array(1), new Int32Array(1)];
  runtime.check.cudnn(
    "cudnnGetConvolution2dForwardOutputDim",
    runtime.dnn.cudnnGetConvolution2dForwardOutputDim(conv, x, w, dims[0], dims[1], dims[2], dims[3]),
  );
  const got = dims.map((d) => d[0]);
  const want = [g.batch, g.outChannels, g.outHeight, g.outWidth];
  if (got.some((v, i) => v !== want[i])) {
    throw new Error(`conv2d: cuDNN computes an output of [${got}] but the geometry says [${want}]`);
  }
}
