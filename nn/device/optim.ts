/**
 * Argument types of the optimiser kernels (in-place SGD and Adam updates), generic over `B`.
 *
 * @module
 */

/** Hyper-parameters of one SGD update, with PyTorch's semantics. */
export interface SgdArgs {
  /** Learning rate. */
  lr: number;
  /** Momentum factor (0 disables the buffer). */
  momentum: number;
  /** Dampening of the momentum. */
  dampening: number;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
  /** Nesterov momentum. */
  nesterov: boolean;
  /** First step: the momentum buffer is initialised to the gradient. */
  firstStep: boolean;
}

/** One SGD step on a parameter, in place. */
export interface SgdUpdateArgs<B> extends SgdArgs {
  /** Parameter (updated). */
  param: B;
  /** Its gradient. */
  grad: B;
  /** Momentum buffer (updated), or null when momentum is 0. */
  momentumBuffer: B | null;
}

/** Hyper-parameters of one Adam / AdamW update, with PyTorch's semantics. */
export interface AdamArgs {
  /** Learning rate. */
  lr: number;
  /** Decay of the first moment. */
  beta1: number;
  /** Decay of the second moment. */
  beta2: number;
  /** Added to the denominator. */
  eps: number;
  /** Weight decay: L2 on the gradient (Adam) or decoupled (AdamW). */
  weightDecay: number;
  /** Decoupled weight decay (AdamW). */
  decoupled: boolean;
  /** 1-based step count, for bias correction. */
  step: number;
}

/** One Adam step on a parameter, in place. */
export interface AdamUpdateArgs<B> extends AdamArgs {
  /** Parameter (updated). */
  param: B;
  /** Its gradient. */
  grad: B;
  /** First moment (updated). */
  m: B;
  /** Second moment (updated). */
  v: B;
}
