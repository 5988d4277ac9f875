/**
 * Batch normalisation over the channel dim of (N, C) or (N, C, H, W) inputs.
 *
 * @module
 */

import type { BatchNormGeometry } from "../device.ts";
import { record } from "../autograd.ts";
import type { Tensor } from "../tensor.ts";
import { emptyLike, sameDevice } from "./util.ts";

/** Options of {@linkcode batchNorm}. */
export interface BatchNormOptions {
  /** Use batch statistics and update the running ones (default false). */
  training?: boolean;
  /** Weight of the new statistics in the running ones (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

function geometry(x: Tensor, channels: number): BatchNormGeometry {
  if ((x.ndim !== 2 && x.ndim !== 4) || x.shape[1] !== channels) {
    throw new Error(
      `batchNorm(): expected input (N, ${channels}) or (N, ${channels}, H, W), got shape [${x.shape}]`,
    );
  }
  return { batch: x.shape[0], channels, spatial: x.ndim === 4 ? x.shape[2] * x.shape[3] : 1 };
}

/**
 * Batch normalisation, like `torch.nn.functional.batch_norm`. In training, normalises with the
 * batch mean and biased variance and updates the running mean and the running unbiased variance in
 * place; otherwise normalises with the running statistics.
 *
 * @param x Input (N, C) or (N, C, H, W).
 * @param runningMean (C), updated in training; may be null when training.
 * @param runningVar (C), updated in training; may be null when training.
 * @param weight (C) scale.
 * @param bias (C) shift.
 * @param options training, momentum, eps.
 * @returns The normalised tensor.
 * @example
 * ```ts
 * import { batchNorm } from "./norm.ts";
 * import { ones, tensor, zeros } from "../creation.ts";
 * const y = batchNorm(tensor([[1], [3]]), zeros([1]), ones([1]), ones([1]), zeros([1]), { training: true, eps: 0 });
 * y.toArray(); // [-1, 1]
 * ```
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor,
  bias: Tensor,
  options: BatchNormOptions = {},
): Tensor {
  const { training = false, momentum = 0.1, eps = 1e-5 } = options;
  const channels = weight.shape[0];
  const device = sameDevice("batchNorm", x, weight, bias);
  const g = geometry(x, channels);
  if (bias.shape[0] !== channels || weight.ndim !== 1 || bias.ndim !== 1) {
    throw new Error(
      `batchNorm(): weight [${weight.shape}] and bias [${bias.shape}] should both be [${channels}]`,
    );
  }
  const y = emptyLike(x, x.shape);
  if (!training) {
    if (!runningMean || !runningVar) {
      throw new Error("batchNorm(): running statistics are required when not training");
    }
    device.batchNormInfer({
      geometry: g,
      x: x.buffer,
      weight: weight.buffer,
      bias: bias.buffer,
      runningMean: runningMean.buffer,
      runningVar: runningVar.buffer,
      eps,
      y: y.buffer,
    });
    return record(
      y,
      "batchNorm",
      [x, weight, bias],
      (dy) => inferBackward(x, dy, weight, runningMean, runningVar, eps, g),
    );
  }
  if (g.batch * g.spatial < 2) {
    throw new Error(
      `batchNorm(): training needs more than one value per channel, got input shape [${x.shape}]; ` +
        "use a batch of 2 or more, or larger images",
    );
  }
  const saveMean = emptyLike(x, [channels]);
  const saveInvStd = emptyLike(x, [channels]);
  device.batchNormTrain({
    geometry: g,
    x: x.buffer,
    weight: weight.buffer,
    bias: bias.buffer,
    runningMean: runningMean?.buffer ?? null,
    runningVar: runningVar?.buffer ?? null,
    momentum,
    eps,
    y: y.buffer,
    saveMean: saveMean.buffer,
    saveInvStd: saveInvStd.buffer,
  });
  const out = record(y, "batchNorm", [x, weight, bias], (dy) => {
    const dx = emptyLike(x, x.shape);
    const dw = emptyLike(weight, [channels]);
    const db = emptyLike(bias, [channels]);
    device.batchNormBackward({
      geometry: g,
      x: x.buffer,
      dy: dy.buffer,
      weight: weight.buffer,
      saveMean: saveMean.buffer,
      saveInvStd: saveInvStd.buffer,
      eps,
      dx: dx.buffer,
      dweight: dw.buffer,
      dbias: db.buffer,
    });
    return [
      x.requiresGrad ? dx : (dx.dispose(), null),
      weight.requiresGrad ? dw : (dw.dispose(), null),
      bias.requiresGrad ? db : (db.dispose(), null),
    ];
  });
  if (!out.requiresGrad) {
    saveMean.dispose();
    saveInvStd.dispose();
  }
  return out;
}

/** Backward of the eval-mode affine map y = (x - mean) * invStd * w + b. */
function inferBackward(
  x: Tensor,
  dy: Tensor,
  weight: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  eps: number,
  g: BatchNormGeometry,
): (Tensor | null)[] {
  const device = x.device;
  const mean = device.read(runningMean.buffer);
  const variance = device.read(runningVar.buffer);
  const w = device.read(weight.buffer);
  const invStd = variance.map((v) => 1 / Math.sqrt(v + eps));
  const shape = [1, g.channels, 1, 1];
  const full = [g.batch, g.channels, g.spatial, 1];
  const scale = emptyLike(x, [g.channels]);
  device.write(scale.buffer, invStd.map((s, c) => s * w[c]));
  const dx = emptyLike(x, x.shape);
  device.binary({
    op: "mul",
    a: dy.buffer,
    aShape: full,
    b: scale.buffer,
    bShape: shape,
    out: dx.buffer,
    outShape: full,
  });
  // xhat = (x - mean) * invStd
  const shift = emptyLike(x, [g.channels]);
  device.write(shift.buffer, mean.map((m, c) => -m * invStd[c]));
  device.write(scale.buffer, invStd);
  const xhat = emptyLike(x, x.shape);
  device.binary({
    op: "mul",
    a: x.buffer,
    aShape: full,
    b: scale.buffer,
    bShape: shape,
    out: xhat.buffer,
    outShape: full,
  });
  device.binary({
    op: "add",
    a: xhat.buffer,
    aShape: full,
    b: shift.buffer,
    bShape: shape,
    out: xhat.buffer,
    outShape: full,
  });
  device.binary({
    op: "mul",
    a: xhat.buffer,
    aShape: full,
    b: dy.buffer,
    bShape: full,
    out: xhat.buffer,
    outShape: full,
  });
  const dw = emptyLike(weight, [g.channels]);
  device.sumTo({ x: xhat.buffer, xShape: full, out: dw.buffer, outShape: shape });
  const db = emptyLike(weight, [g.channels]);
  device.sumTo({ x: dy.buffer, xShape: full, out: db.buffer, outShape: shape });
  for (const t of [scale, shift, xhat]) t.dispose();
  return [dx, dw, db];
}
