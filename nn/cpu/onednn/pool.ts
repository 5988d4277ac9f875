/**
 * float32 max pooling forward on the CPU through oneDNN 2.x, over the plain NCHW layout. Inference
 * propagation, so no workspace: the backward pass stays in TypeScript, which finds each window's
 * maximum again from the forward input and output.
 *
 * @module
 */

import { DNNL_ABCD, DNNL_ALG, DNNL_ARG, DNNL_FORWARD_INFERENCE, DNNL_POOLING_DESC_BYTES } from "../../../ffi/dnnl.ts";
import type { Pool2dGeometry } from "../../device.ts";
import {
  buildOnce,
  check,
  dims,
  handleOut,
  loadOneDnn,
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
 * Max pooling forward through oneDNN (see `Device.maxPool2dForward`); false when oneDNN cannot run
 * it (nothing was written).
 *
 * @param g Geometry.
 * @param x Input (N, C, H, W).
 * @param y Output (N, C, Ho, Wo).
 * @returns Whether oneDNN ran.
 * @example
 * ```ts
 * import { oneDnnMaxPoolForward } from "./pool.ts";
 * // if (!oneDnnMaxPoolForward(g, x, y)) maxPool2dForward(g, x, y);
 * ```
 */
export function oneDnnMaxPoolForward(g: Pool2dGeometry, x: Float32Array, y: Float32Array): boolean {
  const rt = loadOneDnn();
  const pass = rt && poolPass(rt, g);
  if (!rt || !pass) return false;
  run(rt, pass, [x, y]);
  return true;
}
