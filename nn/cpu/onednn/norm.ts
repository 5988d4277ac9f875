/**
 * float32 batch normalisation on the CPU through oneDNN 2.3+ (vectorised and threaded), over the
 * plain (N, C, H*W) layout. Running statistics are updated here, per channel, with PyTorch's rule
 * (unbiased variance, weight `momentum`).
 *
 * @module
 */

import {
  DNNL_A,
  DNNL_ABCD,
  DNNL_ARG,
  DNNL_BACKWARD,
  DNNL_BATCH_NORMALIZATION_DESC_BYTES,
  DNNL_FORWARD_INFERENCE,
  DNNL_FORWARD_TRAINING,
  DNNL_USE_GLOBAL_STATS,
  DNNL_USE_SCALE,
  DNNL_USE_SHIFT,
} from "../../../ffi/dnnl.ts";
import type { BatchNormGeometry } from "../../device.ts";
import {
  buildOnce,
  check,
  handleOut,
  loadOneDnn,
  makeDirectPass,
  memoryDesc,
  type Pass,
  type Pointer,
  pointerOf,
  run,
  type Runtime,
} from "./runtime.ts";

type Kind = "train" | "infer" | "backward";

interface NormPass {
  pass: Pass;
  /** Per-channel variance in or out of the primitive. */
  variance: Float32Array;
}

// null: the library refused the primitive (e.g. oneDNN < 2.3 lacks separate scale and shift).
const passes = new Map<string, NormPass | null>();

function forwardPd(rt: Runtime, data: Uint8Array, kind: "train" | "infer", eps: number): Pointer {
  const p = (b: Uint8Array) => Deno.UnsafePointer.of(b);
  const desc = new Uint8Array(DNNL_BATCH_NORMALIZATION_DESC_BYTES);
  const flags = DNNL_USE_SCALE | DNNL_USE_SHIFT | (kind === "infer" ? DNNL_USE_GLOBAL_STATS : 0);
  const prop = kind === "infer" ? DNNL_FORWARD_INFERENCE : DNNL_FORWARD_TRAINING;
  check(
    rt.lib.dnnl_batch_normalization_forward_desc_init(p(desc), prop, p(data), eps, flags),
    "dnnl_batch_normalization_forward_desc_init",
  );
  const pd = handleOut();
  check(
    rt.lib.dnnl_primitive_desc_create(pd, p(desc), null, rt.engine, null),
    "dnnl_primitive_desc_create(batch norm)",
  );
  return pointerOf(pd);
}

function normPass(rt: Runtime, g: BatchNormGeometry, kind: Kind, eps: number): NormPass | null {
  return buildOnce(passes, `${kind}:${g.batch},${g.channels},${g.spatial}:${eps}`, (): NormPass => {
    const data = memoryDesc(rt, [g.batch, g.channels, g.spatial, 1], DNNL_ABCD);
    const stats = memoryDesc(rt, [g.channels], DNNL_A);
    const variance = new Float32Array(new ArrayBuffer(g.channels * 4));
    if (kind === "backward") {
      const p = (b: Uint8Array) => Deno.UnsafePointer.of(b);
      const desc = new Uint8Array(DNNL_BATCH_NORMALIZATION_DESC_BYTES);
      const flags = DNNL_USE_SCALE | DNNL_USE_SHIFT;
      check(
        rt.lib.dnnl_batch_normalization_backward_desc_init(p(desc), DNNL_BACKWARD, p(data), p(data), eps, flags),
        "dnnl_batch_normalization_backward_desc_init",
      );
      const pd = handleOut();
      check(
        rt.lib.dnnl_primitive_desc_create(pd, p(desc), null, rt.engine, forwardPd(rt, data, "train", eps)),
        "dnnl_primitive_desc_create(batch norm backward)",
      );
      return {
        variance,
        pass: makeDirectPass(rt, pointerOf(pd), [
          [DNNL_ARG.src, data, false],
          [DNNL_ARG.mean, stats, false],
          [DNNL_ARG.variance, stats, false],
          [DNNL_ARG.diffDst, data, false],
          [DNNL_ARG.scale, stats, false],
          // Required with use_shift, but only read when ReLU is fused; see oneDnnBatchNormBackward.
          [DNNL_ARG.shift, stats, false],
          [DNNL_ARG.diffSrc, data, true],
          [DNNL_ARG.diffScale, stats, true],
          [DNNL_ARG.diffShift, stats, true],
        ]),
      };
    } else {
      const training = kind === "train";
      return {
        variance,
        pass: makeDirectPass(rt, forwardPd(rt, data, kind, eps), [
          [DNNL_ARG.src, data, false],
          [DNNL_ARG.dst, data, true],
          [DNNL_ARG.mean, stats, training],
          [DNNL_ARG.variance, stats, training],
          [DNNL_ARG.scale, stats, false],
          [DNNL_ARG.shift, stats, false],
        ]),
      };
    }
  });
}

/**
 * Batch-statistics forward through oneDNN (see `Device.batchNormTrain`); false when oneDNN cannot
 * run it (nothing was written).
 *
 * @param g Geometry.
 * @param x Input.
 * @param weight Scale per channel.
 * @param bias Shift per channel.
 * @param runningMean Updated in place, or null.
 * @param runningVar Updated in place (unbiased variance), or null.
 * @param momentum Weight of the batch statistics.
 * @param eps Added to the variance.
 * @param y Output.
 * @param saveMean Batch mean (output).
 * @param saveInvStd `1 / sqrt(biased var + eps)` (output).
 * @returns Whether oneDNN ran.
 * @example
 * ```ts
 * import { oneDnnBatchNormTrain } from "./norm.ts";
 * // if (!oneDnnBatchNormTrain(g, x, w, b, rm, rv, 0.1, 1e-5, y, mean, invStd)) fallBack();
 * ```
 */
export function oneDnnBatchNormTrain(
  g: BatchNormGeometry,
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array,
  runningMean: Float32Array | null,
  runningVar: Float32Array | null,
  momentum: number,
  eps: number,
  y: Float32Array,
  saveMean: Float32Array,
  saveInvStd: Float32Array,
): boolean {
  const rt = loadOneDnn();
  const norm = rt && normPass(rt, g, "train", eps);
  if (!rt || !norm) return false;
  run(rt, norm.pass, [x, y, saveMean, norm.variance, weight, bias]);
  const count = g.batch * g.spatial;
  for (let c = 0; c < g.channels; c++) {
    const variance = norm.variance[c];
    saveInvStd[c] = 1 / Math.sqrt(variance + eps);
    if (runningMean && runningVar) {
      runningMean[c] = (1 - momentum) * runningMean[c] + momentum * saveMean[c];
      const unbiased = count > 1 ? (variance * count) / (count - 1) : variance;
      runningVar[c] = (1 - momentum) * runningVar[c] + momentum * unbiased;
    }
  }
  return true;
}

/**
 * Running-statistics forward through oneDNN; false when unavailable.
 *
 * @param g Geometry.
 * @param x Input.
 * @param weight Scale.
 * @param bias Shift.
 * @param runningMean Mean used.
 * @param runningVar Variance used.
 * @param eps Added to the variance.
 * @param y Output.
 * @returns Whether oneDNN ran.
 * @example
 * ```ts
 * import { oneDnnBatchNormInfer } from "./norm.ts";
 * // oneDnnBatchNormInfer(g, x, w, b, rm, rv, 1e-5, y);
 * ```
 */
export function oneDnnBatchNormInfer(
  g: BatchNormGeometry,
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array,
  runningMean: Float32Array,
  runningVar: Float32Array,
  eps: number,
  y: Float32Array,
): boolean {
  const rt = loadOneDnn();
  const norm = rt && normPass(rt, g, "infer", eps);
  if (!rt || !norm) return false;
  run(rt, norm.pass, [x, y, runningMean, runningVar, weight, bias]);
  return true;
}

/**
 * Train-mode backward through oneDNN; false when unavailable. The interface hands over
 * `1/sqrt(var + eps)` rather than the variance, so oneDNN gets `var + eps` with epsilon 0, which
 * gives it the same normaliser.
 *
 * @param g Geometry.
 * @param x Forward input.
 * @param dy Output gradient.
 * @param weight Scale.
 * @param saveMean Batch mean.
 * @param saveInvStd Inverse standard deviation.
 * @param dx Input gradient (output).
 * @param dweight Scale gradient (output).
 * @param dbias Shift gradient (output).
 * @returns Whether oneDNN ran.
 * @example
 * ```ts
 * import { oneDnnBatchNormBackward } from "./norm.ts";
 * // oneDnnBatchNormBackward(g, x, dy, w, mean, invStd, dx, dw, db);
 * ```
 */
export function oneDnnBatchNormBackward(
  g: BatchNormGeometry,
  x: Float32Array,
  dy: Float32Array,
  weight: Float32Array,
  saveMean: Float32Array,
  saveInvStd: Float32Array,
  dx: Float32Array,
  dweight: Float32Array,
  dbias: Float32Array,
): boolean {
  const rt = loadOneDnn();
  const norm = rt && normPass(rt, g, "backward", 0);
  if (!rt || !norm) return false;
  for (let c = 0; c < g.channels; c++) norm.variance[c] = 1 / (saveInvStd[c] * saveInvStd[c]);
  // The shift operand is not read without a fused ReLU; the scale stands in for it.
  run(rt, norm.pass, [x, saveMean, norm.variance, dy, weight, weight, dx, dweight, dbias]);
  return true;
}
