/**
 * Reverse-mode automatic differentiation: the graph an op records, the walk behind
 * `backward()`, and `noGrad()`.
 *
 * Each op records a `GradFn` (defined in nn/tensor.ts) on its output: the inputs, and a function
 * from the output's gradient to one gradient per input. `backward()` visits the recorded ops in
 * reverse topological order, sums gradients of tensors used more than once, and adds the results
 * to the leaves' `.grad` (leaf gradients accumulate across calls until zeroed).
 *
 * @module
 */

import { keep } from "./scope.ts";
import { empty, Tensor } from "./tensor.ts";

let gradEnabled = true;

/**
 * Whether ops currently record the graph.
 *
 * @returns False inside {@linkcode noGrad}.
 * @example
 * ```ts
 * import { isGradEnabled } from "./autograd.ts";
 * console.log(isGradEnabled()); // true
 * ```
 */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Runs `fn` without recording the graph (evaluation, optimiser steps) and returns its value.
 * `fn` must be synchronous.
 *
 * @param fn The work.
 * @returns What `fn` returned.
 * @example
 * ```ts
 * import { noGrad } from "./autograd.ts";
 * import { tensor } from "./creation.ts";
 * const w = tensor([1], [1], { requiresGrad: true });
 * const y = noGrad(() => w.mul(2)); // y.requiresGrad === false
 * ```
 */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * Attaches a `GradFn` to `output` when grad mode is on and an input requires grad.
 *
 * @param output The op's fresh output.
 * @param name The op's name.
 * @param inputs The op's tensor inputs.
 * @param backward Output gradient -> input gradients.
 * @returns `output`.
 * @example
 * ```ts
 * import { record } from "./autograd.ts";
 * // inside an op: return record(y, "double", [x], (g) => [g.mul(2)]);
 * ```
 */
export function record(
  output: Tensor,
  name: string,
  inputs: readonly Tensor[],
  backward: (gradOutput: Tensor) => (Tensor | null)[],
): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    output.requiresGrad = true;
    output.gradFn = { name, inputs, backward };
  }
  return output;
}

/** Tensors reachable from `root` through recorded ops, inputs before outputs. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>([root]);
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const inputs = top[0].gradFn?.inputs ?? [];
    if (top[1] < inputs.length) {
      const input = inputs[top[1]++];
      if (input.requiresGrad && !visited.has(input)) {
        visited.add(input);
        stack.push([input, 0]);
      }
    } else {
      stack.pop();
      order.push(top[0]);
    }
  }
  return order;
}

/** A tensor sharing `t`'s storage (one more reference). */
function alias(t: Tensor): Tensor {
  t.storage.refs++;
  return new Tensor(t.shape, t.storage);
}

/** `t` itself when it owns its storage, otherwise a private copy (t is then disposed). */
function exclusive(t: Tensor): Tensor {
  if (t.storage.refs === 1) return t;
  const own = empty(t.shape, t.dtype, t.device);
  t.device.copy(t.buffer, own.buffer);
  t.dispose();
  return own;
}

/**
 * Backpropagates from `root` (what {@linkcode Tensor.backward} calls).
 *
 * @param root The tensor to differentiate.
 * @param gradient dL/d(root); defaults to 1 for a one-element root.
 * @param retainGraph Keep the recorded ops for another backward.
 * @example
 * ```ts
 * import { backward } from "./autograd.ts";
 * import { tensor } from "./creation.ts";
 * const x = tensor([3], [1], { requiresGrad: true });
 * backward(x.mul(x).sum());
 * console.log(x.grad?.item()); // 6
 * ```
 */
export function backward(root: Tensor, gradient?: Tensor, retainGraph = false): void {
  if (!root.requiresGrad) {
    throw new Error(
      "backward(): the tensor does not require grad; create a leaf with { requiresGrad: true } " +
        "and compute outside noGrad()",
    );
  }
  let seed: Tensor;
  if (gradient === undefined) {
    if (root.size !== 1) {
      throw new Error(
        `backward(): output has shape [${root.shape}]; pass a gradient of that shape or reduce to one element`,
      );
    }
    seed = empty(root.shape, root.dtype, root.device);
    seed.device.fill(seed.buffer, 1);
  } else {
    if (gradient.shape.join() !== root.shape.join()) {
      throw new Error(
        `backward(): gradient shape [${gradient.shape}] differs from output shape [${root.shape}]`,
      );
    }
    seed = alias(gradient);
  }
  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  noGrad(() => {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const fn = t.gradFn;
      if (!fn) {
        accumulateLeaf(t, g);
        continue;
      }
      let inputGrads: (Tensor | null)[];
      try {
        inputGrads = fn.backward(g);
      } catch (error) {
        for (const pending of grads.values()) pending.dispose();
        g.dispose();
        throw annotate(error, fn.name);
      }
      // Outputs that are `g` itself become aliases, so disposing g cannot free them.
      const owned = inputGrads.map((ig) => (ig === g ? alias(g) : ig));
      g.dispose();
      if (!retainGraph) t.gradFn = null;
      fn.inputs.forEach((input, k) => {
        const ig = owned[k];
        if (!ig) return;
        if (!input.requiresGrad) {
          ig.dispose();
          return;
        }
        if (ig.shape.join() !== input.shape.join()) {
          throw new Error(
            `backward(): ${fn.name} returned a gradient of shape [${ig.shape}] for an input of shape [${input.shape}]`,
          );
        }
        const previous = grads.get(input);
        if (!previous) {
          grads.set(input, ig);
          return;
        }
        const sum = exclusive(previous);
        sum.device.axpy({ alpha: 1, x: ig.buffer, y: sum.buffer });
        ig.dispose();
        grads.set(input, sum);
      });
    }
  });
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (leaf.grad === null) {
    leaf.grad = keep(exclusive(g));
    return;
  }
  leaf.device.axpy({ alpha: 1, x: g.buffer, y: leaf.grad.buffer });
  g.dispose();
}

function annotate(error: unknown, opName: string): Error {
  if (error instanceof Error) {
    error.message = `backward of ${opName}: ${error.message}`;
    return error;
  }
  return new Error(`backward of ${opName}: ${String(error)}`);
}
