/**
 * Weight initialisers that fill an existing tensor in place, as `torch.nn.init` does.
 *
 * @module
 */

import { defaultGenerator, type Generator } from "./random.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Fan-in and fan-out of a weight: (out, in, *kernel) for convolutions, (out, in) for linear.
 *
 * @param t The weight.
 * @returns `{ fanIn, fanOut }`.
 * @example
 * ```ts
 * import { fans } from "./init.ts";
 * import { zeros } from "./tensor.ts";
 * fans(zeros([64, 3, 7, 7])); // { fanIn: 147, fanOut: 3136 }
 * ```
 */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) throw new Error(`fans(): need at least 2 dims, got shape [${t.shape}]`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

function fill(t: Tensor, draw: () => number): Tensor {
  const values = t.dtype === "float64" ? new Float64Array(t.size) : new Float32Array(t.size);
  for (let i = 0; i < values.length; i++) values[i] = draw();
  t.device.write(t.buffer, values);
  return t;
}

/**
 * Fills with U(low, high).
 *
 * @param t Tensor to fill.
 * @param low Lower bound.
 * @param high Upper bound.
 * @param generator Random source.
 * @returns `t`.
 * @example
 * ```ts
 * import { uniform } from "./init.ts";
 * import { zeros } from "./tensor.ts";
 * uniform(zeros([3]), -1, 1);
 * ```
 */
export function uniform(t: Tensor, low = 0, high = 1, generator: Generator = defaultGenerator): Tensor {
  return fill(t, () => low + (high - low) * generator.uniform());
}

/**
 * Fills with N(mean, std²).
 *
 * @param t Tensor to fill.
 * @param mean Mean.
 * @param std Standard deviation.
 * @param generator Random source.
 * @returns `t`.
 * @example
 * ```ts
 * import { normal } from "./init.ts";
 * import { zeros } from "./tensor.ts";
 * normal(zeros([3]), 0, 0.02);
 * ```
 */
export function normal(t: Tensor, mean = 0, std = 1, generator: Generator = defaultGenerator): Tensor {
  return fill(t, () => mean + std * generator.normal());
}

/**
 * PyTorch's default for Conv2d and Linear weights: kaiming_uniform with a = sqrt(5), which is
 * U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
 *
 * @param t The weight.
 * @param generator Random source.
 * @returns `t`.
 * @example
 * ```ts
 * import { defaultWeight } from "./init.ts";
 * import { zeros } from "./tensor.ts";
 * defaultWeight(zeros([10, 20]));
 * ```
 */
export function defaultWeight(t: Tensor, generator: Generator = defaultGenerator): Tensor {
  const bound = 1 / Math.sqrt(fans(t).fanIn);
  return uniform(t, -bound, bound, generator);
}

/**
 * PyTorch's default for a bias: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) with the weight's fan-in.
 *
 * @param bias The bias.
 * @param fanIn Fan-in of the matching weight.
 * @param generator Random source.
 * @returns `bias`.
 * @example
 * ```ts
 * import { defaultBias } from "./init.ts";
 * import { zeros } from "./tensor.ts";
 * defaultBias(zeros([10]), 20);
 * ```
 */
export function defaultBias(bias: Tensor, fanIn: number, generator: Generator = defaultGenerator): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform(bias, -bound, bound, generator);
}

/**
 * Kaiming (He) normal: N(0, 2 / fan), fan = fanOut (default) or fanIn; for ReLU networks.
 * With fanOut this is the official EPSANet / ResNet conv init N(0, sqrt(2 / (k*k*out))).
 *
 * @param t The weight.
 * @param mode Which fan to use.
 * @param generator Random source.
 * @returns `t`.
 * @example
 * ```ts
 * import { kaimingNormal } from "./init.ts";
 * import { zeros } from "./tensor.ts";
 * kaimingNormal(zeros([64, 3, 7, 7]));
 * ```
 */
export function kaimingNormal(
  t: Tensor,
  mode: "fanIn" | "fanOut" = "fanOut",
  generator: Generator = defaultGenerator,
): Tensor {
  const fan = fans(t)[mode];
  return normal(t, 0, Math.sqrt(2 / fan), generator);
}
