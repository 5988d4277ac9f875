/**
 * Element-wise ops with broadcasting, each forward beside its backward.
 *
 * @module
 */

import type { ActivationOp, BinaryOp, UnaryOp } from "../device.ts";
import { record } from "../autograd.ts";
import type { Tensor } from "../tensor.ts";
import { sumToShape } from "./broadcast.ts";
import { broadcastShapes, emptyLike, fullLike, padShape, sameDevice } from "./util.ts";

function scalarLike(t: Tensor, value: number): Tensor {
  return fullLike(t, [], value);
}

/** Raw broadcasting binary op (not recorded). */
function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const device = sameDevice(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = emptyLike(a, shape);
  device.binary({
    op,
    a: a.buffer,
    aShape: padShape(a.shape, shape.length),
    b: b.buffer,
    bShape: padShape(b.shape, shape.length),
    out: out.buffer,
    outShape: shape,
  });
  return out;
}

/** `x * scale + shift` (not recorded). */
function affineRaw(x: Tensor, scale: number, shift: number): Tensor {
  const out = emptyLike(x, x.shape);
  x.device.affine({ x: x.buffer, out: out.buffer, scale, shift });
  return out;
}

/** `x / s` as a true division (not recorded). */
function divScalarRaw(x: Tensor, s: number): Tensor {
  const scalar = scalarLike(x, s);
  const out = binaryRaw("div", x, scalar);
  scalar.dispose();
  return out;
}

/** `t` summed to `shape`, disposing `t` when a new tensor was made. */
function reduceGrad(t: Tensor, shape: readonly number[]): Tensor {
  const reduced = sumToShape(t, shape);
  if (reduced !== t) t.dispose();
  return reduced;
}

/**
 * `a + b` with broadcasting.
 *
 * @param a Left operand.
 * @param b Right operand (tensor or number).
 * @returns The sum.
 * @example
 * ```ts
 * import { add } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * add(tensor([1, 2]), 1).toArray(); // [2, 3]
 * ```
 */
export function add(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") return record(affineRaw(a, 1, b), "add", [a], (g) => [g]);
  return record(binaryRaw("add", a, b), "add", [a, b], (g) => [
    a.requiresGrad ? sumToShape(g, a.shape) : null,
    b.requiresGrad ? sumToShape(g, b.shape) : null,
  ]);
}

/**
 * `a - b` with broadcasting.
 *
 * @param a Left operand.
 * @param b Right operand (tensor or number).
 * @returns The difference.
 * @example
 * ```ts
 * import { sub } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * sub(tensor([1, 2]), tensor([1])).toArray(); // [0, 1]
 * ```
 */
export function sub(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") return record(affineRaw(a, 1, -b), "sub", [a], (g) => [g]);
  return record(binaryRaw("sub", a, b), "sub", [a, b], (g) => [
    a.requiresGrad ? sumToShape(g, a.shape) : null,
    b.requiresGrad ? reduceGrad(unaryRaw("neg", g), b.shape) : null,
  ]);
}

/**
 * `a * b` with broadcasting.
 *
 * @param a Left operand.
 * @param b Right operand (tensor or number).
 * @returns The product.
 * @example
 * ```ts
 * import { mul } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * mul(tensor([1, 2]), 3).toArray(); // [3, 6]
 * ```
 */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") {
    return record(affineRaw(a, b, 0), "mul", [a], (g) => [affineRaw(g, b, 0)]);
  }
  return record(binaryRaw("mul", a, b), "mul", [a, b], (g) => [
    a.requiresGrad ? reduceGrad(binaryRaw("mul", g, b), a.shape) : null,
    b.requiresGrad ? reduceGrad(binaryRaw("mul", g, a), b.shape) : null,
  ]);
}

/**
 * `a / b` with broadcasting.
 *
 * @param a Numerator.
 * @param b Denominator (tensor or number).
 * @returns The quotient.
 * @example
 * ```ts
 * import { div } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * div(tensor([1, 2]), 2).toArray(); // [0.5, 1]
 * ```
 */
export function div(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") {
    return record(divScalarRaw(a, b), "div", [a], (g) => [divScalarRaw(g, b)]);
  }
  const out = binaryRaw("div", a, b);
  return record(out, "div", [a, b], (g) => {
    const gOverB = binaryRaw("div", g, b);
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      // d(a/b)/db = -(a/b)/b, so gb = -(g/b) * out
      const t = binaryRaw("mul", gOverB, out);
      t.device.affine({ x: t.buffer, out: t.buffer, scale: -1, shift: 0 });
      gb = reduceGrad(t, b.shape);
    }
    if (!a.requiresGrad) {
      gOverB.dispose();
      return [null, gb];
    }
    return [reduceGrad(gOverB, a.shape), gb];
  });
}

function unaryRaw(op: UnaryOp, x: Tensor): Tensor {
  const out = emptyLike(x, x.shape);
  x.device.unary({ op, x: x.buffer, out: out.buffer });
  return out;
}

/**
 * `-x`.
 *
 * @param x Input.
 * @returns The negation.
 * @example
 * ```ts
 * import { neg } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * neg(tensor([1])).item(); // -1
 * ```
 */
export function neg(x: Tensor): Tensor {
  return record(unaryRaw("neg", x), "neg", [x], (g) => [unaryRaw("neg", g)]);
}

/**
 * `e ** x`.
 *
 * @param x Input.
 * @returns The exponential.
 * @example
 * ```ts
 * import { exp } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * exp(tensor([0])).item(); // 1
 * ```
 */
export function exp(x: Tensor): Tensor {
  const y = unaryRaw("exp", x);
  return record(y, "exp", [x], (g) => [binaryRaw("mul", g, y)]);
}

/**
 * Natural logarithm.
 *
 * @param x Input.
 * @returns `ln x`.
 * @example
 * ```ts
 * import { log } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * log(tensor([1])).item(); // 0
 * ```
 */
export function log(x: Tensor): Tensor {
  return record(unaryRaw("log", x), "log", [x], (g) => [binaryRaw("div", g, x)]);
}

/**
 * Square root.
 *
 * @param x Input.
 * @returns `sqrt x`.
 * @example
 * ```ts
 * import { sqrt } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * sqrt(tensor([4])).item(); // 2
 * ```
 */
export function sqrt(x: Tensor): Tensor {
  const y = unaryRaw("sqrt", x);
  return record(y, "sqrt", [x], (g) => {
    const half = binaryRaw("div", g, y);
    x.device.affine({ x: half.buffer, out: half.buffer, scale: 0.5, shift: 0 });
    return [half];
  });
}

/**
 * Absolute value (gradient 0 at 0, as in PyTorch).
 *
 * @param x Input.
 * @returns `|x|`.
 * @example
 * ```ts
 * import { abs } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * abs(tensor([-2])).item(); // 2
 * ```
 */
export function abs(x: Tensor): Tensor {
  return record(unaryRaw("abs", x), "abs", [x], (g) => {
    // sign(x) * g = g*[x > 0] - g*[-x > 0]
    const positive = emptyLike(g, g.shape);
    x.device.activationBackward({ op: "relu", y: x.buffer, dy: g.buffer, dx: positive.buffer });
    const minusX = unaryRaw("neg", x);
    const negative = emptyLike(g, g.shape);
    x.device.activationBackward({ op: "relu", y: minusX.buffer, dy: g.buffer, dx: negative.buffer });
    x.device.axpy({ alpha: -1, x: negative.buffer, y: positive.buffer });
    minusX.dispose();
    negative.dispose();
    return [positive];
  });
}

/**
 * `x ** exponent` for a number exponent.
 *
 * @param x Base.
 * @param exponent Power.
 * @returns The power.
 * @example
 * ```ts
 * import { pow } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * pow(tensor([3]), 2).item(); // 9
 * ```
 */
export function pow(x: Tensor, exponent: number): Tensor {
  const y = emptyLike(x, x.shape);
  x.device.pow({ x: x.buffer, out: y.buffer, exponent });
  return record(y, "pow", [x], (g) => {
    const d = emptyLike(x, x.shape);
    x.device.pow({ x: x.buffer, out: d.buffer, exponent: exponent - 1 });
    x.device.affine({ x: d.buffer, out: d.buffer, scale: exponent, shift: 0 });
    const out = binaryRaw("mul", g, d);
    d.dispose();
    return [out];
  });
}

function activation(op: ActivationOp, x: Tensor): Tensor {
  const y = unaryRaw(op, x);
  return record(y, op, [x], (g) => {
    const dx = emptyLike(g, g.shape);
    x.device.activationBackward({ op, y: y.buffer, dy: g.buffer, dx: dx.buffer });
    return [dx];
  });
}

/**
 * `max(x, 0)`.
 *
 * @param x Input.
 * @returns The rectified input.
 * @example
 * ```ts
 * import { relu } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * relu(tensor([-1, 2])).toArray(); // [0, 2]
 * ```
 */
export function relu(x: Tensor): Tensor {
  return activation("relu", x);
}

/**
 * The logistic function.
 *
 * @param x Input.
 * @returns `1 / (1 + e^-x)`.
 * @example
 * ```ts
 * import { sigmoid } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * sigmoid(tensor([0])).item(); // 0.5
 * ```
 */
export function sigmoid(x: Tensor): Tensor {
  return activation("sigmoid", x);
}

/**
 * Hyperbolic tangent.
 *
 * @param x Input.
 * @returns `tanh x`.
 * @example
 * ```ts
 * import { tanh } from "./elementwise.ts";
 * import { tensor } from "../creation.ts";
 * tanh(tensor([0])).item(); // 0
 * ```
 */
export function tanh(x: Tensor): Tensor {
  return activation("tanh", x);
}
