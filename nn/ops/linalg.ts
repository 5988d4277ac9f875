/**
 * Matrix products: matmul and the linear layer's `x Wᵀ + b`.
 *
 * @module
 */

import { record } from "../autograd.ts";
import type { Tensor } from "../tensor.ts";
import { emptyLike, sameDevice } from "./util.ts";

interface Gemm {
  a: Tensor;
  b: Tensor;
  transA: boolean;
  transB: boolean;
  batch: number;
  m: number;
  n: number;
  k: number;
  /** Shape of the result. */
  shape: readonly number[];
}

/** `op(A) op(B)` into a new tensor (not recorded). */
function product(p: Gemm): Tensor {
  const c = emptyLike(p.a, p.shape);
  p.a.device.gemm({
    transA: p.transA,
    transB: p.transB,
    m: p.m,
    n: p.n,
    k: p.k,
    alpha: 1,
    beta: 0,
    a: p.a.buffer,
    b: p.b.buffer,
    c: c.buffer,
    batch: p.batch,
    strideA: p.m * p.k,
    strideB: p.k * p.n,
    strideC: p.m * p.n,
  });
  return c;
}

/**
 * Matrix product of 2-D tensors (m, k) x (k, n), or batched 3-D tensors (B, m, k) x (B, k, n).
 *
 * @param a Left operand.
 * @param b Right operand.
 * @returns The product.
 * @example
 * ```ts
 * import { matmul } from "./linalg.ts";
 * import { tensor } from "../creation.ts";
 * matmul(tensor([[1, 2]]), tensor([[3], [4]])).item(); // 11
 * ```
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  sameDevice("matmul", a, b);
  const rank = a.ndim;
  const ok = (rank === 2 || rank === 3) && b.ndim === rank &&
    a.shape[rank - 1] === b.shape[rank - 2] && (rank === 2 || a.shape[0] === b.shape[0]);
  if (!ok) {
    throw new Error(
      `matmul(): shapes [${a.shape}] and [${b.shape}] do not multiply; expected (m, k) x (k, n) or (B, m, k) x (B, k, n)`,
    );
  }
  const batch = rank === 3 ? a.shape[0] : 1;
  const m = a.shape[rank - 2];
  const k = a.shape[rank - 1];
  const n = b.shape[rank - 1];
  const lead = rank === 3 ? [batch] : [];
  const y = product({ a, b, transA: false, transB: false, batch, m, n, k, shape: [...lead, m, n] });
  return record(y, "matmul", [a, b], (g) => [
    // dA = g Bᵀ, dB = Aᵀ g
    a.requiresGrad ? product({ a: g, b, transA: false, transB: true, batch, m, n: k, k: n, shape: a.shape }) : null,
    b.requiresGrad ? product({ a, b: g, transA: true, transB: false, batch, m: k, n, k: m, shape: b.shape }) : null,
  ]);
}

/**
 * `y = x Wᵀ + b` over the last dim of x, like `torch.nn.functional.linear`.
 *
 * @param x Input (..., in).
 * @param weight (out, in).
 * @param bias (out) or null.
 * @returns (..., out).
 * @example
 * ```ts
 * import { linear } from "./linalg.ts";
 * import { tensor } from "../creation.ts";
 * linear(tensor([[1, 2]]), tensor([[1, 1]]), tensor([0.5])).item(); // 3.5
 * ```
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const device = sameDevice("linear", ...inputs);
  const inFeatures = x.shape[x.ndim - 1];
  const outFeatures = weight.shape[0];
  if (weight.ndim !== 2 || weight.shape[1] !== inFeatures || x.ndim < 1) {
    throw new Error(
      `linear(): input [${x.shape}] does not match weight [${weight.shape}]; expected (..., ${weight.shape[1]}) inputs`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outFeatures)) {
    throw new Error(`linear(): bias shape [${bias.shape}] should be [${outFeatures}]`);
  }
  const rows = x.size / inFeatures;
  const shape = [...x.shape.slice(0, -1), outFeatures];
  const y = product({
    a: x,
    b: weight,
    transA: false,
    transB: true,
    batch: 1,
    m: rows,
    n: outFeatures,
    k: inFeatures,
    shape,
  });
  if (bias) {
    const outShape = [rows, outFeatures];
    device.binary({
      op: "add",
      a: y.buffer,
      aShape: outShape,
      b: bias.buffer,
      bShape: [1, outFeatures],
      out: y.buffer,
      outShape,
    });
  }
  return record(y, "linear", inputs, (g) => [
    // dx = g W, dW = gᵀ x, db = sum of g's rows
    x.requiresGrad
      ? product({
        a: g,
        b: weight,
        transA: false,
        transB: false,
        batch: 1,
        m: rows,
        n: inFeatures,
        k: outFeatures,
        shape: x.shape,
      })
      : null,
    weight.requiresGrad
      ? product({
        a: g,
        b: x,
        transA: true,
        transB: false,
        batch: 1,
        m: outFeatures,
        n: inFeatures,
        k: rows,
        shape: weight.shape,
      })
      : null,
    ...(bias ? [bias.requiresGrad ? sumRows(g, rows, outFeatures) : null] : []),
  ]);
}

function sumRows(g: Tensor, rows: number, cols: number): Tensor {
  const out = emptyLike(g, [cols]);
  g.device.sumTo({ x: g.buffer, xShape: [rows, cols], out: out.buffer, outShape: [1, cols] });
  return out;
}
