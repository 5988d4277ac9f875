/**
 * float32 convolutions on the CPU through oneDNN 2.x (libdnnl.so.2), the library PyTorch uses.
 *
 * Per geometry we build, once, the forward primitive and (with it as hint) the backward-data and
 * backward-weights primitives, letting oneDNN choose its preferred memory layouts ("any"). Our
 * tensors stay NCHW / OIHW: each call reorders inputs into the primitive's layout and outputs back,
 * as PyTorch's ideep does. Direct convolution only (no Winograd), fp32 math.
 *
 * @module
 */

import {
  DNNL_ABCD,
  DNNL_ABCDE,
  DNNL_ARG,
  DNNL_CONVOLUTION_DESC_BYTES,
  DNNL_CONVOLUTION_DIRECT,
  DNNL_FORMAT_ANY,
  DNNL_FORWARD_TRAINING,
  DNNL_QUERY,
} from "../../../ffi/dnnl.ts";
import type { Conv2dGeometry } from "../../device/geometry.ts";
import type { Conv2dBackwardDataArgs, Conv2dBackwardFilterArgs, Conv2dForwardArgs } from "../../device/kernels.ts";
import type { FloatArray } from "../gemm.ts";
import {
  check,
  dims,
  handleOut,
  makePass,
  memoryDesc,
  type Pass,
  type Pointer,
  pointerOf,
  run,
  type Runtime,
} from "./runtime.ts";

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
 * `y = conv2d(x, w)` through oneDNN (float32 buffers).
 *
 * @param rt The loaded oneDNN runtime.
 * @param args Geometry, input x (N, C, H, W), weights w (K, C/groups, kh, kw), output y (overwritten).
 * @example
 * ```ts
 * import { oneDnnConvForward } from "./conv.ts";
 * // const rt = loadOneDnn(); if (rt) oneDnnConvForward(rt, { geometry, x, w, y });
 * ```
 */
export function oneDnnConvForward(rt: Runtime, args: Conv2dForwardArgs<FloatArray>): void {
  const plan = planFor(rt, args.geometry);
  plan.forward ??= makePass(rt, plan.forwardPd, [
    [DNNL_ARG.src, DNNL_QUERY.srcMd, plan.descs.src, false],
    [DNNL_ARG.weights, DNNL_QUERY.weightsMd, plan.descs.weights, false],
    [DNNL_ARG.dst, DNNL_QUERY.dstMd, plan.descs.dst, true],
  ]);
  run(rt, plan.forward, [args.x, args.w, args.y]);
}

/**
 * `dx = conv2dᵀ(dy, w)` through oneDNN (float32 buffers).
 *
 * @param rt The loaded oneDNN runtime.
 * @param args Geometry, output gradient dy, weights w, input gradient dx (overwritten).
 * @example
 * ```ts
 * import { oneDnnConvBackwardData } from "./conv.ts";
 * // oneDnnConvBackwardData(rt, { geometry, dy, w, dx });
 * ```
 */
export function oneDnnConvBackwardData(rt: Runtime, args: Conv2dBackwardDataArgs<FloatArray>): void {
  const plan = planFor(rt, args.geometry);
  plan.backwardData ??= makePass(rt, backwardPd(rt, plan, false), [
    [DNNL_ARG.diffDst, DNNL_QUERY.diffDstMd, plan.descs.dst, false],
    [DNNL_ARG.weights, DNNL_QUERY.weightsMd, plan.descs.weights, false],
    [DNNL_ARG.diffSrc, DNNL_QUERY.diffSrcMd, plan.descs.src, true],
  ]);
  run(rt, plan.backwardData, [args.dy, args.w, args.dx]);
}

/**
 * The weight gradient through oneDNN (float32 buffers).
 *
 * @param rt The loaded oneDNN runtime.
 * @param args Geometry, input x, output gradient dy, weight gradient dw (overwritten).
 * @example
 * ```ts
 * import { oneDnnConvBackwardWeights } from "./conv.ts";
 * // oneDnnConvBackwardWeights(rt, { geometry, x, dy, dw });
 * ```
 */
export function oneDnnConvBackwardWeights(rt: Runtime, args: Conv2dBackwardFilterArgs<FloatArray>): void {
  const plan = planFor(rt, args.geometry);
  plan.backwardWeights ??= makePass(rt, backwardPd(rt, plan, true), [
    [DNNL_ARG.src, DNNL_QUERY.srcMd, plan.descs.src, false],
    [DNNL_ARG.diffDst, DNNL_QUERY.diffDstMd, plan.descs.dst, false],
    [DNNL_ARG.diffWeights, DNNL_QUERY.diffWeightsMd, plan.descs.weights, true],
  ]);
  run(rt, plan.backwardWeights, [args.x, args.dy, args.dw]);
}
