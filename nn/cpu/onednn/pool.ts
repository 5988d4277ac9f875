/**
 * float32 max pooling forward on the CPU through oneDNN 2.x, over the plain NCHW layout. Inference
 * propagation, so no workspace: the backward pass stays in TypeScript, which finds each window's
 * maximum again from the forward input and output.
 *
 * @module
 */

import { DNNL_ABCD, DNNL_ALG, DNNL_ARG, DNNL_FORWARD_INFERENCE, DNNL_POOLING_DESC_BYTES } from "../../../ffi/dnnl.ts";
import type { Pool2dGeometry } from "../../device/geometry.ts";
import type { MaxPool2dForwardArgs } from "../../device/kernels.ts";
import type { FloatArray } from "../gemm.ts";
import {
  buildOnce,
  check,
  dims,
  handleOut,
  makeDirectPass,
  memoryDesc,
  type Pass,
  pointerOf,
  run,
  type Runtime,
} from "./runtime.ts";

// null: the library refused the primitive; the TypeScript kernel runs instead.
const passes = new Map<string, Pass | null>();

function poolPass(rt: Runtime, g: Pool2dGeometry): Pass | null {
  return buildOnce(passes, Object.values(g).join(","), () => {
    const p = (b: Uint8Array) => Deno.UnsafePointer.of(b);
    const src = memoryDesc(rt, [g.batch, g.channels, g.inHeight, g.inWidth], DNNL_ABCD);
    const dst = memoryDesc(rt, [g.batch, g.channels, g.outHeight, g.outWidth], DNNL_ABCD);
    // Right padding = left padding gives PyTorch's floor rule; max pooling never reads the padding.
    const padding = dims([g.padH, g.padW]);
    const desc = new Uint8Array(DNNL_POOLING_DESC_BYTES);
    check(
      rt.lib.dnnl_pooling_forward_desc_init(
        p(desc),
        DNNL_FORWARD_INFERENCE,
        DNNL_ALG.poolingMax,
        p(src),
        p(dst),
        dims([g.strideH, g.strideW]),
        dims([g.kernelH, g.kernelW]),
        padding,
        padding,
      ),
      "dnnl_pooling_forward_desc_init",
    );
    const pd = handleOut();
    check(rt.lib.dnnl_primitive_desc_create(pd, p(desc), null, rt.engine, null), "dnnl_primitive_desc_create(pool)");
    return makeDirectPass(rt, pointerOf(pd), [[DNNL_ARG.src, src, false], [DNNL_ARG.dst, dst, true]]);
  });
}

/**
 * Max pooling forward through oneDNN (float32 buffers); false when the library refused the
 * primitive (nothing was written).
 *
 * @param rt The loaded oneDNN runtime.
 * @param args Geometry, input x (N, C, H, W), output y (N, C, Ho, Wo).
 * @returns Whether oneDNN ran.
 * @example
 * ```ts
 * import { oneDnnMaxPoolForward } from "./pool.ts";
 * // if (!oneDnnMaxPoolForward(rt, args)) maxPool2dForward(args);
 * ```
 */
export function oneDnnMaxPoolForward(rt: Runtime, args: MaxPool2dForwardArgs<FloatArray>): boolean {
  const pass = poolPass(rt, args.geometry);
  if (!pass) return false;
  run(rt, pass, [args.x, args.y]);
  return true;
}
