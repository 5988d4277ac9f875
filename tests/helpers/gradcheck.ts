/**
 * Gradient checks by finite differences, in float64: per input element, and along one random
 * direction over all parameters at once.
 *
 * @module
 */

import { AssertionError } from "node:assert";
import { Generator, noGrad, randn, type Tensor, tidy } from "../../mod.ts";
import { assertClose, type Tolerance } from "./assert.ts";

/**
 * Checks the gradients of `fn` at float64 `inputs` against central finite differences of
 * `sum(fn(inputs) * w)` for a fixed random `w`.
 *
 * @param fn The function under test.
 * @param inputs float64 leaves with requiresGrad.
 * @param tol Tolerances (default rtol 1e-4, atol 1e-6).
 * @param eps Step (default 1e-6).
 */
export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  tol: Tolerance = {},
  eps = 1e-6,
): void {
  tidy(() => {
    for (const x of inputs) {
      if (x.dtype !== "float64") throw new Error("gradcheck: use float64 inputs");
      x.grad?.dispose();
      x.grad = null;
    }
    const out = fn(...inputs);
    const weights = randn(out.shape, { dtype: "float64", generator: new Generator(7) });
    const w = weights.toFloat64Array();
    out.mul(weights).sum().backward();
    const objective = (): number =>
      noGrad(() =>
        tidy(() => {
          const values = fn(...inputs).toFloat64Array();
          let s = 0;
          for (let i = 0; i < values.length; i++) s += values[i] * w[i];
          return s;
        })
      );
    inputs.forEach((x, k) => {
      const analytic = x.grad ? x.grad.toFloat64Array() : new Float64Array(x.size);
      const values = x.toFloat64Array();
      const numeric = new Float64Array(x.size);
      for (let i = 0; i < x.size; i++) {
        const saved = values[i];
        values[i] = saved + eps;
        x.device.write(x.buffer, values);
        const plus = objective();
        values[i] = saved - eps;
        x.device.write(x.buffer, values);
        const minus = objective();
        values[i] = saved;
        x.device.write(x.buffer, values);
        numeric[i] = (plus - minus) / (2 * eps);
      }
      assertClose(
        analytic,
        numeric,
        { rtol: tol.rtol ?? 1e-4, atol: tol.atol ?? 1e-6 },
        `gradient of input ${k}`,
      );
    });
  });
}

/**
 * Random float64 leaf for gradchecks.
 *
 * @param shape Dimensions.
 * @param seed Generator seed.
 */
export function leaf64(shape: number[], seed = 1): Tensor {
  return randn(shape, { dtype: "float64", requiresGrad: true, generator: new Generator(seed) });
}

/**
 * Checks all parameter gradients of `loss` at once along a random direction v:
 * (L(θ + εv) - L(θ - εv)) / 2ε ≈ ∇L · v. Parameters must be float64.
 *
 * @param params The parameters.
 * @param loss Computes a scalar from the current parameter values.
 * @param tol Relative tolerance (default 1e-6).
 * @param eps Step (default 1e-6).
 */
export function directionalGradcheck(params: Tensor[], loss: () => Tensor, tol = 1e-6, eps = 1e-6): void {
  tidy(() => {
    for (const p of params) {
      p.grad?.dispose();
      p.grad = null;
    }
    loss().backward();
    const g = new Generator(11);
    const directions = params.map((p) => Float64Array.from({ length: p.size }, () => g.normal()));
    let analytic = 0;
    params.forEach((p, i) => {
      const grad = p.grad?.toFloat64Array() ?? new Float64Array(p.size);
      for (let j = 0; j < p.size; j++) analytic += grad[j] * directions[i][j];
    });
    const originals = params.map((p) => p.toFloat64Array());
    const shifted = (sign: number): number => {
      params.forEach((p, i) => p.device.write(p.buffer, originals[i].map((v, j) => v + sign * eps * directions[i][j])));
      return noGrad(() => tidy(() => loss().item()));
    };
    const numeric = (shifted(1) - shifted(-1)) / (2 * eps);
    params.forEach((p, i) => p.device.write(p.buffer, originals[i]));
    const scale = Math.max(Math.abs(analytic), Math.abs(numeric), 1e-12);
    if (Math.abs(analytic - numeric) / scale > tol) {
      throw new AssertionError({
        message: `directional derivative: backward ${analytic}, finite differences ${numeric}`,
      });
    }
  });
}
