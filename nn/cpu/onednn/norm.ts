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
import type { BatchNormGeometry } from "../../device/geometry.ts";
import type { BatchNormBackwardArgs, BatchNormInferArgs, BatchNormTrainArgs } from "../../device/kernels.ts";
import type { FloatArray } from "../gemm.ts";
import {
  buildOnce,
  check,
  handleOut,
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
 * Batch-statistics forward through oneDNN (float32 buffers; see `BatchNormTrainArgs`); false when
 * the library refused the primitive (nothing was written).
 *
 * @param rt The loaded oneDNN runtime.
 * @param args Geometry, input, scale, shift, running stats (updated, or null), momentum, eps, and
 * the outputs y, saveMean, saveInvStd.
 * @returns Whether oneDNN ran.
 * @example
 * ```ts
 * import { oneDnnBatchNormTrain } from "./norm.ts";
 * // if (!oneDnnBatchNormTrain(rt, args)) batchNormTrain(args);
 * ```
 */
export function oneDnnBatchNormTrain(rt: Runtime, args: BatchNormTrainArgs<FloatArray>): boolean {
  const { geometry: g, runningMean, runningVar, momentum, eps, saveMean, saveInvStd } = args;
  const norm = normPass(rt, g, "train", eps);
  if (!norm) return false;
  run(rt, norm.pass, [args.x, args.y, saveMean, norm.variance, args.weight, args.bias]);
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
 * Running-statistics forward through oneDNN (float32 buffers); false when refused.
 *
 * @param rt The loaded oneDNN runtime.
 * @param args Geometry, input, scale, shift, running stats, eps, output.
 * @returns Whether oneDNN ran.
 * @example
 * ```ts
 * import { oneDnnBatchNormInfer } from "./norm.ts";
 * // oneDnnBatchNormInfer(rt, args);
 * ```
 */
export function oneDnnBatchNormInfer(rt: Runtime, args: BatchNormInferArgs<FloatArray>): boolean {
  const norm = normPass(rt, args.geometry, "infer", args.eps);
  if (!norm) return false;
  run(rt, norm.pass, [args.x, args.y, args.runningMean, args.runningVar, args.weight, args.bias]);
  return true;
}

/**
 * Train-mode backward through oneDNN (float32 buffers); false when refused. The forward saved
 * `1/sqrt(var + eps)` rather than the variance, so oneDNN gets `var + eps` with epsilon 0, which
 * gives it the same normaliser.
 *
 * @param rt The loaded oneDNN runtime.
 * @param args Geometry, forward input, output gradient, scale, saved statistics, and the outputs
 * dx, dweight, dbias.
 * @returns Whether oneDNN ran.
 * @example
 * ```ts
 * import { oneDnnBatchNormBackward } from "./norm.ts";
 * // oneDnnBatchNormBackward(rt, args);
 * ```
 */
export function oneDnnBatchNormBackward(rt: Runtime, args: BatchNormBackwardArgs<FloatArray>): boolean {
  const { geometry: g, saveInvStd, weight } = args;
  const norm = normPass(rt, g, "backward", 0);
  if (!norm) return false;
  for (let c = 0; c < g.channels; c++) norm.variance[c] = 1 / (saveInvStd[c] * saveInvStd[c]);
  // The shift operand is not read without a fused ReLU; the scale stands in for it.
  run(rt, norm.pass, [
    args.x,
    args.saveMean,
    norm.variance,
    args.dy,
    weight,
    weight,
    args.dx,
    args.dweight,
    args.dbias,
  ]);
  return true;
}
