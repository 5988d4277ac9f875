/**
 * Layers with PyTorch's constructors, state names and default initialisation: Conv2d,
 * BatchNorm2d, Linear, ReLU, Sigmoid, Softmax, MaxPool2d, AdaptiveAvgPool2d, Flatten, Identity,
 * Sequential.
 *
 * @module
 */

import { defaultBias, defaultWeight, fans } from "./init.ts";
import { Module } from "./module.ts";
import * as ops from "./ops/mod.ts";
import { checkInteger } from "./ops/util.ts";
import { ones, type TensorOptions, zeros } from "./creation.ts";
import type { Tensor } from "./tensor.ts";

export { Module } from "./module.ts";
export type { BufferOptions, LoadOptions, LoadResult } from "./module.ts";

/** Options of {@linkcode Conv2d}; a number applies to both dims. */
export interface Conv2dLayerOptions extends ops.Conv2dOptions {
  /** Add a learnable bias (default true, as in PyTorch). */
  bias?: boolean;
  /** Where to create the parameters (default: the default device). */
  device?: TensorOptions["device"];
}

/**
 * 2-D convolution layer, like `torch.nn.Conv2d`. Weight (out, in/groups, kh, kw) and bias (out)
 * are initialised as PyTorch does (uniform in ±1/sqrt(fan-in)).
 *
 * @example
 * ```ts
 * import { Conv2d } from "./layers.ts";
 * import { zeros } from "./creation.ts";
 * const conv = new Conv2d(3, 16, 3, { padding: 1, bias: false });
 * conv.forward(zeros([1, 3, 32, 32])).shape; // [1, 16, 32, 32]
 * ```
 */
export class Conv2d extends Module {
  /** (out, in/groups, kh, kw). */
  readonly weight: Tensor;
  /** (out) or null. */
  readonly bias: Tensor | null;
  /** Stride, padding, dilation and groups. */
  readonly options: Required<ops.Conv2dOptions>;

  /**
   * Creates the weight (and bias) with PyTorch's default initialisation.
   *
   * @param inChannels Input channels.
   * @param outChannels Output channels.
   * @param kernelSize Kernel size (number or [kh, kw]).
   * @param options stride, padding, dilation, groups, bias, device.
   */
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | readonly [number, number],
    options: Conv2dLayerOptions = {},
  ) {
    super();
    const groups = options.groups ?? 1;
    checkInteger("Conv2d", "inChannels", inChannels);
    checkInteger("Conv2d", "outChannels", outChannels);
    checkInteger("Conv2d", "groups", groups);
    const [kh, kw] = ops.pair(kernelSize);
    checkInteger("Conv2d", "kernelSize", kh);
    checkInteger("Conv2d", "kernelSize", kw);
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(
        `Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must both be divisible by groups (${groups})`,
      );
    }
    this.options = {
      stride: options.stride ?? 1,
      padding: options.padding ?? 0,
      dilation: options.dilation ?? 1,
      groups,
    };
    const device = { device: options.device };
    this.weight = this.registerParameter("weight", zeros([outChannels, inChannels / groups, kh, kw], device));
    defaultWeight(this.weight);
    this.bias = null;
    if (options.bias ?? true) {
      this.bias = this.registerParameter("bias", zeros([outChannels], device));
      defaultBias(this.bias, fans(this.weight).fanIn);
    }
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    return ops.conv2d(x, this.weight, this.bias, this.options);
  }
}

/** Options of {@linkcode BatchNorm2d}. */
export interface BatchNormLayerOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Weight of new statistics (default 0.1); null for a cumulative average. */
  momentum?: number | null;
  /** Where to create the state (default: the default device). */
  device?: TensorOptions["device"];
}

/**
 * Batch normalisation over channels, like `torch.nn.BatchNorm2d` (also accepts (N, C) input).
 * State: `weight` (1s), `bias` (0s), `running_mean` (0s), `running_var` (1s), and
 * `num_batches_tracked`. Train mode normalises with batch statistics and updates the running
 * mean and unbiased running variance; eval mode uses the running statistics.
 *
 * @example
 * ```ts
 * import { BatchNorm2d } from "./layers.ts";
 * import { randn } from "./creation.ts";
 * const bn = new BatchNorm2d(8);
 * bn.forward(randn([4, 8, 5, 5])).shape; // [4, 8, 5, 5]
 * ```
 */
export class BatchNorm2d extends Module {
  /** Scale, (C). */
  readonly weight: Tensor;
  /** Shift, (C). */
  readonly bias: Tensor;
  /** Running mean, (C). */
  readonly runningMean: Tensor;
  /** Running unbiased variance, (C). */
  readonly runningVar: Tensor;
  /** Batches seen in train mode (a one-element tensor). */
  readonly numBatchesTracked: Tensor;
  /** Added to the variance. */
  readonly eps: number;
  /** Weight of new statistics, or null for a cumulative average. */
  readonly momentum: number | null;
  #batches = 0;

  /**
   * Creates the affine parameters (weight 1, bias 0) and the running statistics (mean 0, variance 1).
   *
   * @param numFeatures Channels C.
   * @param options eps, momentum, device.
   */
  constructor(numFeatures: number, options: BatchNormLayerOptions = {}) {
    super();
    checkInteger("BatchNorm2d", "numFeatures", numFeatures);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    if (!(this.eps > 0)) throw new Error(`BatchNorm2d: eps must be > 0, got ${this.eps}`);
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new Error(`BatchNorm2d: momentum must be in [0, 1] or null, got ${this.momentum}`);
    }
    const device = { device: options.device };
    this.weight = this.registerParameter("weight", ones([numFeatures], device));
    this.bias = this.registerParameter("bias", zeros([numFeatures], device));
    this.runningMean = this.registerBuffer("running_mean", zeros([numFeatures], device));
    this.runningVar = this.registerBuffer("running_var", ones([numFeatures], device));
    this.numBatchesTracked = this.registerBuffer("num_batches_tracked", zeros([], device), { integer: true });
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    let momentum = this.momentum ?? 0;
    if (this.training) {
      this.#batches++;
      const count = this.numBatchesTracked.buffer;
      this.numBatchesTracked.device.affine({ x: count, out: count, scale: 1, shift: 1 });
      if (this.momentum === null) momentum = 1 / this.#batches;
    }
    return ops.batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, {
      training: this.training,
      momentum,
      eps: this.eps,
    });
  }

  /** Re-reads the batch count from `num_batches_tracked` after a load. */
  protected override afterLoad(): void {
    this.#batches = this.numBatchesTracked.item();
    super.afterLoad();
  }
}

/** Options of {@linkcode Linear}. */
export interface LinearOptions {
  /** Add a learnable bias (default true). */
  bias?: boolean;
  /** Where to create the parameters (default: the default device). */
  device?: TensorOptions["device"];
}

/**
 * Fully connected layer `y = x Wᵀ + b`, like `torch.nn.Linear`, with PyTorch's default init.
 *
 * @example
 * ```ts
 * import { Linear } from "./layers.ts";
 * import { zeros } from "./creation.ts";
 * new Linear(2048, 10).forward(zeros([4, 2048])).shape; // [4, 10]
 * ```
 */
export class Linear extends Module {
  /** (out, in). */
  readonly weight: Tensor;
  /** (out) or null. */
  readonly bias: Tensor | null;

  /**
   * Creates the weight (and bias) with PyTorch's default initialisation.
   *
   * @param inFeatures Input size.
   * @param outFeatures Output size.
   * @param options bias, device.
   */
  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    checkInteger("Linear", "inFeatures", inFeatures);
    checkInteger("Linear", "outFeatures", outFeatures);
    const device = { device: options.device };
    this.weight = this.registerParameter("weight", zeros([outFeatures, inFeatures], device));
    defaultWeight(this.weight);
    this.bias = null;
    if (options.bias ?? true) {
      this.bias = this.registerParameter("bias", zeros([outFeatures], device));
      defaultBias(this.bias, inFeatures);
    }
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    return ops.linear(x, this.weight, this.bias);
  }
}

/**
 * `max(x, 0)`.
 *
 * @example
 * ```ts
 * import { ReLU } from "./layers.ts";
 * import { tensor } from "./creation.ts";
 * new ReLU().forward(tensor([-1, 1])).toArray(); // [0, 1]
 * ```
 */
export class ReLU extends Module {
  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    return ops.relu(x);
  }
}

/**
 * The logistic function.
 *
 * @example
 * ```ts
 * import { Sigmoid } from "./layers.ts";
 * import { tensor } from "./creation.ts";
 * new Sigmoid().forward(tensor([0])).item(); // 0.5
 * ```
 */
export class Sigmoid extends Module {
  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    return ops.sigmoid(x);
  }
}

/**
 * Softmax along a dim.
 *
 * @example
 * ```ts
 * import { Softmax } from "./layers.ts";
 * import { tensor } from "./creation.ts";
 * new Softmax(1).forward(tensor([[0, 0]])).toArray(); // [0.5, 0.5]
 * ```
 */
export class Softmax extends Module {
  /** The dim softmax runs along. */
  readonly dim: number;

  /**
   * Creates the layer.
   *
   * @param dim The dim (negative counts from the end).
   */
  constructor(dim: number) {
    super();
    this.dim = dim;
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    return ops.softmax(x, this.dim);
  }
}

/**
 * Max pooling, like `torch.nn.MaxPool2d` (stride defaults to the kernel size).
 *
 * @example
 * ```ts
 * import { MaxPool2d } from "./layers.ts";
 * import { zeros } from "./creation.ts";
 * new MaxPool2d(3, { stride: 2, padding: 1 }).forward(zeros([1, 64, 112, 112])).shape; // [1, 64, 56, 56]
 * ```
 */
export class MaxPool2d extends Module {
  /** Window size. */
  readonly kernelSize: number | readonly [number, number];
  /** Stride and padding. */
  readonly options: ops.MaxPool2dOptions;

  /**
   * Creates the layer.
   *
   * @param kernelSize Window size.
   * @param options stride, padding.
   */
  constructor(kernelSize: number | readonly [number, number], options: ops.MaxPool2dOptions = {}) {
    super();
    this.kernelSize = kernelSize;
    this.options = options;
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    return ops.maxPool2d(x, this.kernelSize, this.options);
  }
}

/**
 * Adaptive average pooling to a fixed output size, like `torch.nn.AdaptiveAvgPool2d`.
 *
 * @example
 * ```ts
 * import { AdaptiveAvgPool2d } from "./layers.ts";
 * import { zeros } from "./creation.ts";
 * new AdaptiveAvgPool2d(1).forward(zeros([2, 2048, 7, 7])).shape; // [2, 2048, 1, 1]
 * ```
 */
export class AdaptiveAvgPool2d extends Module {
  /** Output height and width. */
  readonly outputSize: number | readonly [number, number];

  /**
   * Creates the layer.
   *
   * @param outputSize Output size (a number for both dims).
   */
  constructor(outputSize: number | readonly [number, number]) {
    super();
    this.outputSize = outputSize;
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    return ops.adaptiveAvgPool2d(x, this.outputSize);
  }
}

/**
 * Flattens dims `startDim..endDim` (default: all but the batch dim).
 *
 * @example
 * ```ts
 * import { Flatten } from "./layers.ts";
 * import { zeros } from "./creation.ts";
 * new Flatten().forward(zeros([2, 3, 4])).shape; // [2, 12]
 * ```
 */
export class Flatten extends Module {
  /** First merged dim. */
  readonly startDim: number;
  /** Last merged dim. */
  readonly endDim: number;

  /**
   * Creates the layer.
   *
   * @param startDim First dim (default 1).
   * @param endDim Last dim (default -1).
   */
  constructor(startDim = 1, endDim = -1) {
    super();
    this.startDim = startDim;
    this.endDim = endDim;
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    return ops.flatten(x, this.startDim, this.endDim);
  }
}

/**
 * Returns its input unchanged (a placeholder, e.g. the missing max pool of the CIFAR stem).
 *
 * @example
 * ```ts
 * import { Identity } from "./layers.ts";
 * import { zeros } from "./creation.ts";
 * const x = zeros([1]);
 * new Identity().forward(x) === x; // true
 * ```
 */
export class Identity extends Module {
  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    return x;
  }
}

/**
 * Modules run in order; children are named "0", "1", ... as in PyTorch.
 *
 * @example
 * ```ts
 * import { Linear, ReLU, Sequential } from "./layers.ts";
 * import { zeros } from "./creation.ts";
 * const mlp = new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 2));
 * mlp.forward(zeros([1, 4])).shape; // [1, 2]
 * ```
 */
export class Sequential extends Module {
  readonly #layers: Module[];

  /**
   * Registers the modules as children "0", "1", ... (PyTorch's names).
   *
   * @param modules The modules, in order.
   */
  constructor(...modules: Module[]) {
    super();
    this.#layers = modules.map((m, i) => this.registerModule(String(i), m));
  }

  /** Number of modules. */
  get length(): number {
    return this.#layers.length;
  }

  /**
   * The module at `index`.
   *
   * @param index Position (negative counts from the end).
   */
  at(index: number): Module {
    const m = this.#layers.at(index);
    if (!m) throw new Error(`Sequential.at(): index ${index} is out of range for ${this.length} modules`);
    return m;
  }

  /** The modules in order. */
  [Symbol.iterator](): Iterator<Module> {
    return this.#layers[Symbol.iterator]();
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    let out = x;
    for (const m of this.#layers) out = m.forward(out);
    return out;
  }
}
