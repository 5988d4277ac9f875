/**
 * Adam on the CPU through oneDNN 2.x: four vectorised, threaded passes instead of one scalar
 * TypeScript loop. The TypeScript loop is bound by float64 sqrt and division on one core
 * (~4 ns per value); these passes are bound by memory bandwidth.
 *
 *   m  = g * (1 - b1)              + b1 m   binary mul by a scalar, sum post-op into m
 *   v  = g * g * (1 - b2)          + b2 v   binary mul, linear post-op, sum post-op into v
 *   d  = sqrt(v * c^2) + eps                binary mul by a scalar, sqrt and linear post-ops
 *   p  = (m / d) * s               + p      binary div, mul-by-scalar post-op, sum post-op into p
 *
 * with c = 1 / sqrt(1 - b2^t) and s = -lr / (1 - b1^t). Only binary primitives are used: oneDNN
 * 2.6 runs element-wise primitives with post-ops in its slow reference code. The step-dependent
 * factors are 1-element tensors read at run time, so each tensor size builds its primitives once.
 * Small tensors, and weight decay, stay on the TypeScript path.
 *
 * @module
 */

import { DNNL_A, DNNL_ALG, DNNL_ARG, DNNL_BINARY_DESC_BYTES, dnnlPostOpSrc1 } from "../../../ffi/dnnl.ts";
import type { AdamUpdateArgs } from "../../device/kernels.ts";
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

/** Below this many values the single TypeScript pass is cheaper than four primitive launches. */
const MIN_VALUES = 16384;

interface AdamPlan {
  firstMoment: Pass;
  secondMoment: Pass;
  denominator: Pass;
  update: Pass;
  /** d, reused across calls of this size. */
  denom: Float32Array;
  /** Run-time scalars: 1 - b1, c^2, s. */
  keep1: Float32Array;
  correction2: Float32Array;
  negStepSize: Float32Array;
}

const plans = new Map<string, AdamPlan | null>();

type PostOp = ["sum", number] | ["linear", number, number] | ["sqrt"] | ["mul", Uint8Array];

function attrWith(rt: Runtime, postOps: readonly PostOp[]): Pointer {
  const ops = handleOut();
  check(rt.lib.dnnl_post_ops_create(ops), "dnnl_post_ops_create");
  const handle = pointerOf(ops);
  for (const op of postOps) {
    if (op[0] === "sum") check(rt.lib.dnnl_post_ops_append_sum(handle, op[1]), "dnnl_post_ops_append_sum");
    else if (op[0] === "mul") {
      const md = Deno.UnsafePointer.of(op[1]);
      check(rt.lib.dnnl_post_ops_append_binary(handle, DNNL_ALG.binaryMul, md), "dnnl_post_ops_append_binary");
    } else {
      const [alg, alpha, beta] = op[0] === "sqrt"
        ? [DNNL_ALG.eltwiseSqrt, 0, 0]
        : [DNNL_ALG.eltwiseLinear, op[1], op[2]];
      check(rt.lib.dnnl_post_ops_append_eltwise(handle, 1, alg, alpha, beta), "dnnl_post_ops_append_eltwise");
    }
  }
  const attr = handleOut();
  check(rt.lib.dnnl_primitive_attr_create(attr), "dnnl_primitive_attr_create");
  check(rt.lib.dnnl_primitive_attr_set_post_ops(pointerOf(attr), handle), "dnnl_primitive_attr_set_post_ops");
  return pointerOf(attr);
}

/** A binary primitive `dst = post_ops(src0 alg src1)` with dst shaped like src0. */
function binaryPass(
  rt: Runtime,
  alg: number,
  md: Uint8Array,
  src1: Uint8Array,
  postOps: readonly PostOp[],
  postOpTensor: Uint8Array | null,
): Pass {
  const desc = new Uint8Array(DNNL_BINARY_DESC_BYTES);
  const p = Deno.UnsafePointer.of;
  check(rt.lib.dnnl_binary_desc_init(p(desc), alg, p(md), p(src1), p(md)), "dnnl_binary_desc_init");
  const pd = handleOut();
  check(
    rt.lib.dnnl_primitive_desc_create(pd, p(desc), attrWith(rt, postOps), rt.engine, null),
    "dnnl_primitive_desc_create(binary)",
  );
  const operands: [number, Uint8Array, boolean][] = [[DNNL_ARG.src, md, false], [DNNL_ARG.src1, src1, false]];
  if (postOpTensor) operands.push([dnnlPostOpSrc1(0), postOpTensor, false]);
  operands.push([DNNL_ARG.dst, md, true]);
  return makeDirectPass(rt, pointerOf(pd), operands);
}

function planFor(rt: Runtime, n: number, beta1: number, beta2: number, eps: number): AdamPlan | null {
  return buildOnce(plans, `${n}:${beta1}:${beta2}:${eps}`, (): AdamPlan => {
    const md = memoryDesc(rt, [n], DNNL_A);
    const scalar = memoryDesc(rt, [1], DNNL_A);
    const scalarArray = () => new Float32Array(new ArrayBuffer(4));
    return {
      firstMoment: binaryPass(rt, DNNL_ALG.binaryMul, md, scalar, [["sum", beta1]], null),
      secondMoment: binaryPass(rt, DNNL_ALG.binaryMul, md, md, [["linear", 1 - beta2, 0], ["sum", beta2]], null),
      denominator: binaryPass(rt, DNNL_ALG.binaryMul, md, scalar, [["sqrt"], ["linear", 1, eps]], null),
      update: binaryPass(rt, DNNL_ALG.binaryDiv, md, md, [["mul", scalar], ["sum", 1]], scalar),
      denom: new Float32Array(new ArrayBuffer(n * 4)),
      keep1: scalarArray(),
      correction2: scalarArray(),
      negStepSize: scalarArray(),
    };
  });
}

/**
 * One Adam step through oneDNN (float32 buffers); false when it does not apply (a small tensor,
 * weight decay, or a refused primitive), in which case nothing was written.
 *
 * @param rt The loaded oneDNN runtime.
 * @param args Parameter, gradient, moments (all updated but the gradient) and hyper-parameters.
 * @returns Whether oneDNN ran the step.
 * @example
 * ```ts
 * import { oneDnnAdamUpdate } from "./optim.ts";
 * // if (!oneDnnAdamUpdate(rt, args)) adamUpdate(args);
 * ```
 */
export function oneDnnAdamUpdate(rt: Runtime, args: AdamUpdateArgs<FloatArray>): boolean {
  const { param, grad, m, v } = args;
  if (param.length < MIN_VALUES || args.weightDecay !== 0) return false;
  const plan = planFor(rt, param.length, args.beta1, args.beta2, args.eps);
  if (!plan) return false;
  plan.keep1[0] = 1 - args.beta1;
  plan.correction2[0] = 1 / (1 - Math.pow(args.beta2, args.step));
  plan.negStepSize[0] = -args.lr / (1 - Math.pow(args.beta1, args.step));
  run(rt, plan.firstMoment, [grad, plan.keep1, m]);
  run(rt, plan.secondMoment, [grad, grad, v]);
  run(rt, plan.denominator, [v, plan.correction2, plan.denom]);
  run(rt, plan.update, [m, plan.denom, plan.negStepSize, param]);
  return true;
}
