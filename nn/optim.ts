/**
 * Optimisers with PyTorch's update rules and defaults: SGD (momentum, Nesterov, weight decay),
 * Adam and AdamW. Updates run on the parameters' device, in place.
 *
 * @module
 */

import type { Tensor } from "./tensor.ts";
import { zeros } from "./creation.ts";
import { keep } from "./scope.ts";

/** Optimiser state for checkpoints: hyper-parameters, step counts and state tensors. */
export interface OptimizerState {
  /** The optimiser's class name. */
  type: string;
  /** Hyper-parameters (lr included). */
  hyper: Record<string, number | boolean>;
  /** Steps taken, per parameter index. */
  steps: number[];
  /** State tensors keyed `${parameterIndex}.${name}` (e.g. `3.exp_avg`). */
  tensors: Record<string, Tensor>;
}

function checkNumber(owner: string, name: string, value: number, min = 0, max = Infinity): void {
  if (!Number.isFinite(value) || value < min || value > max) {
    const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new Error(`${owner}: ${name} must be a finite number ${range}, got ${value}`);
  }
}

/**
 * Base class: the parameter list, the learning rate, per-parameter state and steps.
 *
 * @example
 * ```ts
 * import { SGD } from "./optim.ts";
 * import { tensor } from "./creation.ts";
 * const w = tensor([1], [1], { requiresGrad: true });
 * const opt = new SGD([w], { lr: 0.1 });
 * w.mul(w).sum().backward();
 * opt.step(); // w = 1 - 0.1 * 2 = 0.8
 * ```
 */
export abstract class Optimizer {
  /** The parameters being optimised. */
  readonly params: readonly Tensor[];
  /** Steps taken per parameter. */
  protected steps: number[];
  /** State tensors per parameter. */
  protected state: Map<string, Tensor>[];
  #lr = 0;

  /**
   * Takes the parameters (each must require grad) and the learning rate.
   *
   * @param params Tensors with `requiresGrad`.
   * @param lr Learning rate.
   */
  constructor(params: Iterable<Tensor>, lr: number) {
    this.params = [...params];
    if (this.params.length === 0) throw new Error(`${this.constructor.name}: got an empty parameter list`);
    for (const p of this.params) {
      if (!p.requiresGrad) {
        throw new Error(`${this.constructor.name}: parameter [${p.shape}] does not require grad`);
      }
    }
    this.lr = lr;
    this.steps = this.params.map(() => 0);
    this.state = this.params.map(() => new Map());
  }

  /** Learning rate; schedules change it between steps. */
  get lr(): number {
    return this.#lr;
  }

  set lr(value: number) {
    checkNumber(this.constructor.name, "lr", value);
    this.#lr = value;
  }

  /** Hyper-parameters other than lr, for checkpoints. */
  protected abstract hyper(): Record<string, number | boolean>;

  /**
   * Updates parameter `index` (its grad is present).
   *
   * @param index Parameter index.
   * @param param The parameter.
   * @param grad Its gradient.
   */
  protected abstract update(index: number, param: Tensor, grad: Tensor): void;

  /** One update of every parameter that has a gradient. */
  step(): void {
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      this.steps[i]++;
      this.update(i, p, p.grad);
    });
  }

  /**
   * Clears the parameters' gradients (disposes them by default, or fills zeros).
   *
   * @param setToNone Dispose instead of zeroing.
   */
  zeroGrad(setToNone = true): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      if (setToNone) {
        p.grad.dispose();
        p.grad = null;
      } else p.device.fill(p.grad.buffer, 0);
    }
  }

  /**
   * A state tensor of parameter `index`, created with zeros on first use.
   *
   * @param index Parameter index.
   * @param name State name (PyTorch's: `exp_avg`, `exp_avg_sq`, `momentum_buffer`).
   */
  protected buffer(index: number, name: string): Tensor {
    const slot = this.state[index];
    let t = slot.get(name);
    if (!t) {
      const p = this.params[index];
      t = keep(zeros(p.shape, { device: p.device, dtype: p.dtype }));
      slot.set(name, t);
    }
    return t;
  }

  /** Hyper-parameters, steps and state tensors (the optimiser's own tensors, not copies). */
  stateDict(): OptimizerState {
    const tensors: Record<string, Tensor> = {};
    this.state.forEach((slot, i) => {
      for (const [name, t] of slot) tensors[`${i}.${name}`] = t;
    });
    return {
      type: this.constructor.name,
      hyper: { lr: this.lr, ...this.hyper() },
      steps: [...this.steps],
      tensors,
    };
  }

  /**
   * Restores a state from {@linkcode Optimizer.stateDict} (values are copied; lr is restored).
   *
   * @param state The saved state.
   * @throws When the type, parameter count or a tensor shape does not match.
   */
  loadStateDict(state: OptimizerState): void {
    const name = this.constructor.name;
    if (state.type !== name) throw new Error(`${name}.loadStateDict(): state is for ${state.type}`);
    if (state.steps.length !== this.params.length) {
      throw new Error(
        `${name}.loadStateDict(): state has ${state.steps.length} parameters, optimiser has ${this.params.length}`,
      );
    }
    for (const [key, t] of Object.entries(state.tensors)) {
      const index = Number(key.split(".")[0]);
      const p = this.params[index];
      if (!p || p.shape.join() !== t.shape.join()) {
        throw new Error(
          `${name}.loadStateDict(): state tensor ${key} [${t.shape}] does not match its parameter`,
        );
      }
    }
    for (const [key, t] of Object.entries(state.tensors)) {
      const [index, stateName] = [Number(key.split(".")[0]), key.slice(key.indexOf(".") + 1)];
      const target = this.buffer(index, stateName);
      const values = t.device.read(t.buffer);
      target.device.write(
        target.buffer,
        target.dtype === "float64" ? Float64Array.from(values) : Float32Array.from(values),
      );
    }
    this.steps = [...state.steps];
    this.lr = Number(state.hyper.lr);
  }

  /** Frees the state tensors. */
  dispose(): void {
    for (const slot of this.state) {
      for (const t of slot.values()) t.dispose();
      slot.clear();
    }
  }
}

/** Options of {@linkcode SGD}. */
export interface SgdOptions {
  /** Learning rate (required, as in PyTorch). */
  lr: number;
  /** Momentum factor (default 0). */
  momentum?: number;
  /** Dampening of the momentum (default 0). */
  dampening?: number;
  /** L2 penalty (default 0). */
  weightDecay?: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
}

/**
 * Stochastic gradient descent, like `torch.optim.SGD`.
 *
 * @example
 * ```ts
 * import { SGD } from "./optim.ts";
 * import { tensor } from "./creation.ts";
 * const w = tensor([1], [1], { requiresGrad: true });
 * const opt = new SGD([w], { lr: 0.1, momentum: 0.9, nesterov: true });
 * ```
 */
export class SGD extends Optimizer {
  /** Momentum factor. */
  readonly momentum: number;
  /** Dampening. */
  readonly dampening: number;
  /** L2 penalty. */
  readonly weightDecay: number;
  /** Nesterov momentum. */
  readonly nesterov: boolean;

  /**
   * Creates the optimiser; the options are checked as PyTorch checks them.
   *
   * @param params Parameters.
   * @param options lr, momentum, dampening, weightDecay, nesterov.
   */
  constructor(params: Iterable<Tensor>, options: SgdOptions) {
    super(params, options.lr);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    checkNumber("SGD", "momentum", this.momentum);
    checkNumber("SGD", "dampening", this.dampening);
    checkNumber("SGD", "weightDecay", this.weightDecay);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error("SGD: nesterov needs momentum > 0 and dampening 0");
    }
  }

  /** Hyper-parameters other than lr, for checkpoints. */
  protected hyper(): Record<string, number | boolean> {
    return {
      momentum: this.momentum,
      dampening: this.dampening,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
    };
  }

  /** Applies one update to parameter `index`. */
  protected update(index: number, param: Tensor, grad: Tensor): void {
    const momentumBuffer = this.momentum !== 0 ? this.buffer(index, "momentum_buffer") : null;
    param.device.sgdUpdate({
      param: param.buffer,
      grad: grad.buffer,
      momentumBuffer: momentumBuffer?.buffer ?? null,
      lr: this.lr,
      momentum: this.momentum,
      dampening: this.dampening,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
      firstStep: this.steps[index] === 1,
    });
  }
}

/** Options of {@linkcode Adam} and {@linkcode AdamW}. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay of the moment estimates (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Weight decay (default 0 for Adam, 0.01 for AdamW). */
  weightDecay?: number;
}

/**
 * Adam, like `torch.optim.Adam` (L2 weight decay added to the gradient).
 *
 * @example
 * ```ts
 * import { Adam } from "./optim.ts";
 * import { tensor } from "./creation.ts";
 * const w = tensor([1], [1], { requiresGrad: true });
 * const opt = new Adam([w], { lr: 1e-3 });
 * ```
 */
export class Adam extends Optimizer {
  /** Moment decays. */
  readonly betas: readonly [number, number];
  /** Denominator epsilon. */
  readonly eps: number;
  /** Weight decay. */
  readonly weightDecay: number;
  /** Decoupled decay (AdamW). */
  protected readonly decoupled: boolean = false;

  /**
   * Creates the optimiser (AdamW inherits this constructor with its own default weight decay).
   *
   * @param params Parameters.
   * @param options lr, betas, eps, weightDecay.
   */
  constructor(params: Iterable<Tensor>, options: AdamOptions = {}) {
    super(params, options.lr ?? 1e-3);
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? this.defaultWeightDecay();
    const name = this.constructor.name;
    checkNumber(name, "betas[0]", this.betas[0], 0, 0.999999999);
    checkNumber(name, "betas[1]", this.betas[1], 0, 0.999999999);
    checkNumber(name, "eps", this.eps);
    checkNumber(name, "weightDecay", this.weightDecay);
  }

  /** 0 for Adam. */
  protected defaultWeightDecay(): number {
    return 0;
  }

  /** Hyper-parameters other than lr, for checkpoints. */
  protected hyper(): Record<string, number | boolean> {
    return { beta1: this.betas[0], beta2: this.betas[1], eps: this.eps, weightDecay: this.weightDecay };
  }

  /** Applies one update to parameter `index`. */
  protected update(index: number, param: Tensor, grad: Tensor): void {
    const m = this.buffer(index, "exp_avg");
    const v = this.buffer(index, "exp_avg_sq");
    param.device.adamUpdate({
      param: param.buffer,
      grad: grad.buffer,
      m: m.buffer,
      v: v.buffer,
      lr: this.lr,
      beta1: this.betas[0],
      beta2: this.betas[1],
      eps: this.eps,
      weightDecay: this.weightDecay,
      decoupled: this.decoupled,
      step: this.steps[index],
    });
  }
}

/**
 * AdamW, like `torch.optim.AdamW`: decoupled weight decay `p *= 1 - lr * wd` (default wd 0.01).
 *
 * @example
 * ```ts
 * import { AdamW } from "./optim.ts";
 * import { tensor } from "./creation.ts";
 * const w = tensor([1], [1], { requiresGrad: true });
 * const opt = new AdamW([w], { lr: 1e-3, weightDecay: 0.05 });
 * ```
 */
export class AdamW extends Adam {
  /** Whether weight decay is decoupled from the gradient (AdamW). */
  protected override readonly decoupled: boolean = true;

  /** The default weight decay of this optimiser. */
  protected override defaultWeightDecay(): number {
    return 0.01;
  }
}
