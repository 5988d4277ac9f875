/**
 * Loss functions.
 *
 * @module
 */

import { record } from "./autograd.ts";
import type { Device } from "./device.ts";
import { full } from "./creation.ts";
import { Storage } from "./storage.ts";
import { Tensor } from "./tensor.ts";
import { emptyLike } from "./ops/util.ts";

/** Options of {@linkcode crossEntropy}. */
export interface CrossEntropyOptions {
  /** Mix of the uniform distribution into the targets, in [0, 1] (default 0). */
  labelSmoothing?: number;
  /** `"mean"` over the batch (default), `"sum"`, or `"none"` for one loss per sample. */
  reduction?: "mean" | "sum" | "none";
}

/** Class indices: a number array, an Int32Array, or a tensor of whole numbers (any dtype). */
export type Targets = readonly number[] | Int32Array | Tensor;

/** Checked host indices: one whole number in [0, classes) per sample. */
function targetIndices(targets: Targets, batch: number, classes: number): Int32Array {
  const values = Array.isArray(targets) || targets instanceof Int32Array
    ? targets as ArrayLike<number>
    : (targets as Tensor).toFloat64Array();
  if (values.length !== batch) {
    throw new Error(`crossEntropy(): ${values.length} targets for a batch of ${batch}`);
  }
  const out = new Int32Array(batch);
  for (let i = 0; i < batch; i++) {
    const t = values[i];
    if (!Number.isInteger(t) || t < 0 || t >= classes) {
      throw new Error(`crossEntropy(): target ${t} at index ${i} is not a class index in [0, ${classes})`);
    }
    out[i] = t;
  }
  return out;
}

/** The indices as an int32 tensor on `device`: one upload, read by the forward and the backward. */
function deviceTargets(indices: Int32Array, device: Device): Tensor {
  const buffer = device.alloc(indices.length, "int32");
  device.write(buffer, indices);
  return new Tensor([indices.length], new Storage(device, "int32", indices.length, buffer));
}

/**
 * Cross entropy between logits and class indices, like `torch.nn.functional.cross_entropy`,
 * with label smoothing: `loss_i = -(1 - s) log p[i, t_i] - (s / C) sum_c log p[i, c]`.
 *
 * @param logits (N, C) unnormalised scores.
 * @param targets N class indices.
 * @param options labelSmoothing, reduction.
 * @returns A scalar (mean / sum) or (N) losses.
 * @example
 * ```ts
 * import { crossEntropy } from "./loss.ts";
 * import { tensor } from "./creation.ts";
 * crossEntropy(tensor([[0, 0]]), [1]).item(); // ln 2 ≈ 0.693
 * ```
 */
export function crossEntropy(logits: Tensor, targets: Targets, options: CrossEntropyOptions = {}): Tensor {
  const { labelSmoothing = 0, reduction = "mean" } = options;
  if (logits.ndim !== 2) {
    throw new Error(`crossEntropy(): expected logits (N, C), got shape [${logits.shape}]`);
  }
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) {
    throw new Error(`crossEntropy(): labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  }
  const [batch, classes] = logits.shape;
  const device = logits.device;
  const t = deviceTargets(targetIndices(targets, batch, classes), device);
  const losses = emptyLike(logits, [batch]);
  device.crossEntropyForward({
    batch,
    classes,
    logits: logits.buffer,
    targets: t.buffer,
    labelSmoothing,
    losses: losses.buffer,
  });
  let out = losses;
  if (reduction !== "none") {
    out = emptyLike(logits, []);
    device.sumTo({ x: losses.buffer, xShape: [batch], out: out.buffer, outShape: [1] });
    if (reduction === "mean") divideInPlace(out, batch);
    losses.dispose();
  }
  const recorded = record(out, "crossEntropy", [logits], (g) => {
    // d loss / d loss_i: g itself ("none"), or g broadcast (sum), or g / N (mean).
    let dLoss = g;
    if (reduction !== "none") {
      dLoss = emptyLike(g, [batch]);
      const zero = emptyLike(g, [batch], true);
      device.binary({
        op: "add",
        a: zero.buffer,
        aShape: [batch],
        b: g.buffer,
        bShape: [1],
        out: dLoss.buffer,
        outShape: [batch],
      });
      zero.dispose();
      if (reduction === "mean") divideInPlace(dLoss, batch);
    }
    const dlogits = emptyLike(logits, logits.shape);
    device.crossEntropyBackward({
      batch,
      classes,
      logits: logits.buffer,
      targets: t.buffer,
      labelSmoothing,
      dLoss: dLoss.buffer,
      dlogits: dlogits.buffer,
    });
    if (dLoss !== g) dLoss.dispose();
    return [dlogits];
  });
  // Without a recorded backward nothing reads the targets again.
  if (!recorded.requiresGrad) t.dispose();
  return recorded;
}

/** `t /= n` as a true division (PyTorch divides by the batch size; it does not multiply by 1/N). */
function divideInPlace(t: Tensor, n: number): void {
  const divisor = full([1], n, { device: t.device, dtype: t.dtype });
  const shape = [t.size];
  t.device.binary({
    op: "div",
    a: t.buffer,
    aShape: shape,
    b: divisor.buffer,
    bShape: [1],
    out: t.buffer,
    outShape: shape,
  });
  divisor.dispose();
}
