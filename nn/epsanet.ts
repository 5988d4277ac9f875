/**
 * EPSANet (Zhang et al., "EPSANet: An Efficient Pyramid Squeeze Attention Block on Convolutional
 * Neural Network", arXiv 2105.14447), computed exactly as the official PyTorch code does, with its
 * module names, so weights move both ways. The stem, stages and head are the shared
 * {@linkcode BottleneckNet}.
 *
 * @module
 */

import { BottleneckBlock, BottleneckNet, type NetworkOptions } from "./bottleneck.ts";
import { AdaptiveAvgPool2d, Conv2d, Module, ReLU, type Sequential, Sigmoid } from "./layers.ts";
import { cat, softmax } from "./ops/mod.ts";
import { checkInteger } from "./ops/util.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Squeeze-and-excitation weights: avg pool -> 1x1 conv (bias) -> ReLU -> 1x1 conv (bias) ->
 * sigmoid. Returns (N, C, 1, 1) attention, not the rescaled input.
 *
 * @example
 * ```ts
 * import { SEWeightModule } from "./epsanet.ts";
 * import { randn } from "./creation.ts";
 * new SEWeightModule(64).forward(randn([2, 64, 8, 8])).shape; // [2, 64, 1, 1]
 * ```
 */
export class SEWeightModule extends Module {
  /** Global average pool. */
  readonly avgPool: AdaptiveAvgPool2d;
  /** Squeeze: C -> C / reduction. */
  readonly fc1: Conv2d;
  /** ReLU between the two 1x1 convs. */
  readonly relu: ReLU;
  /** Excite: C / reduction -> C. */
  readonly fc2: Conv2d;
  /** Final gate. */
  readonly sigmoid: Sigmoid;

  /**
   * Builds the pool, the two 1x1 convs and the gates.
   *
   * @param channels C.
   * @param options `reduction` (default 16).
   */
  constructor(channels: number, options: { reduction?: number } = {}) {
    super();
    const reduction = options.reduction ?? 16;
    checkInteger("SEWeightModule", "channels", channels);
    checkInteger("SEWeightModule", "reduction", reduction);
    if (channels < reduction) {
      throw new Error(`SEWeightModule: channels (${channels}) must be at least the reduction (${reduction})`);
    }
    this.avgPool = this.registerModule("avg_pool", new AdaptiveAvgPool2d(1));
    this.fc1 = this.registerModule("fc1", new Conv2d(channels, Math.floor(channels / reduction), 1));
    this.relu = this.registerModule("relu", new ReLU());
    this.fc2 = this.registerModule("fc2", new Conv2d(Math.floor(channels / reduction), channels, 1));
    this.sigmoid = this.registerModule("sigmoid", new Sigmoid());
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    return this.sigmoid.forward(
      this.fc2.forward(this.relu.forward(this.fc1.forward(this.avgPool.forward(x)))),
    );
  }
}

/** Options of {@linkcode PSAModule}. */
export interface PSAOptions {
  /** Kernel size of each of the four branches (default [3, 5, 7, 9]). */
  convKernels?: readonly number[];
  /** Stride of every branch (default 1). */
  stride?: number;
  /** Groups of each branch (default [1, 4, 8, 16]). */
  convGroups?: readonly number[];
}

/**
 * Pyramid split attention: four convolutions with growing kernels and groups, each giving
 * planes/4 channels; ONE SE module shared by the branches; softmax across the four attention
 * vectors; each branch scaled by its attention; branches concatenated last-first (x4, x3, x2, x1),
 * as the official code does.
 *
 * @example
 * ```ts
 * import { PSAModule } from "./epsanet.ts";
 * import { randn } from "./creation.ts";
 * new PSAModule(64, 64).forward(randn([1, 64, 16, 16])).shape; // [1, 64, 16, 16]
 * ```
 */
export class PSAModule extends Module {
  /** The four branch convolutions (`conv_1` .. `conv_4`). */
  readonly branches: readonly Conv2d[];
  /** The SE module shared by the branches. */
  readonly se: SEWeightModule;
  /** Channels per branch (planes / 4). */
  readonly splitChannels: number;

  /**
   * Builds the four branch convolutions and the shared SE module.
   *
   * @param inplanes Input channels.
   * @param planes Output channels (divisible by 4, and planes/4 by every group count).
   * @param options convKernels, stride, convGroups.
   */
  constructor(inplanes: number, planes: number, options: PSAOptions = {}) {
    super();
    const kernels = options.convKernels ?? [3, 5, 7, 9];
    const groups = options.convGroups ?? [1, 4, 8, 16];
    const stride = options.stride ?? 1;
    if (kernels.length !== 4 || groups.length !== 4) {
      throw new Error(
        `PSAModule: convKernels [${kernels}] and convGroups [${groups}] must have 4 entries each`,
      );
    }
    if (planes % 4 !== 0) throw new Error(`PSAModule: planes (${planes}) must be divisible by 4`);
    this.splitChannels = planes / 4;
    this.branches = kernels.map((k, i) =>
      this.registerModule(
        `conv_${i + 1}`,
        new Conv2d(inplanes, this.splitChannels, k, {
          stride,
          padding: Math.floor(k / 2),
          groups: groups[i],
          bias: false,
        }),
      )
    );
    this.se = this.registerModule("se", new SEWeightModule(this.splitChannels));
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    const [x1, x2, x3, x4] = this.branches.map((conv) => conv.forward(x));
    const [batch, split, h, w] = x1.shape;
    // Softmax over the branch axis of (N, 4, C/4), in the official branch order.
    const attention = softmax(
      cat([x1, x2, x3, x4].map((t) => this.se.forward(t)), 1).reshape(batch, 4, split),
      1,
    );
    // Weighted branches, concatenated last-first: out = [x4*a4, x3*a3, x2*a2, x1*a1].
    const reversed = cat([3, 2, 1, 0].map((i) => attention.narrow(1, i, 1)), 1).reshape(
      batch,
      4 * split,
      1,
      1,
    );
    return cat([x4, x3, x2, x1], 1).mul(reversed).reshape(batch, 4 * split, h, w);
  }
}

/**
 * The EPSANet bottleneck: a {@linkcode BottleneckBlock} whose middle module is a
 * {@linkcode PSAModule} carrying the stride.
 *
 * @example
 * ```ts
 * import { EPSABlock } from "./epsanet.ts";
 * import { randn } from "./creation.ts";
 * new EPSABlock(256, 64).forward(randn([1, 256, 8, 8])).shape; // [1, 256, 8, 8]
 * ```
 */
export class EPSABlock extends BottleneckBlock<PSAModule> {
  /**
   * Builds the block with its PSA module.
   *
   * @param inplanes Input channels.
   * @param planes Inner channels (output is planes * 4).
   * @param options stride, downsample, convKernels, convGroups.
   */
  constructor(
    inplanes: number,
    planes: number,
    options: { stride?: number; downsample?: Sequential | null } & Omit<PSAOptions, "stride"> = {},
  ) {
    super(
      inplanes,
      planes,
      new PSAModule(planes, planes, { ...options, stride: options.stride ?? 1 }),
      options.downsample ?? null,
    );
  }
}

/**
 * EPSANet (the official `EPSANet(block, layers, num_classes)`): a {@linkcode BottleneckNet} of
 * {@linkcode EPSABlock}s. {@linkcode epsanet50} and {@linkcode epsanet101} build the standard
 * depths.
 *
 * @example
 * ```ts
 * import { EPSABlock, EPSANet } from "./epsanet.ts";
 * import { randn } from "./creation.ts";
 * const net = new EPSANet(EPSABlock, [1, 1, 1, 1], { numClasses: 10, stem: "cifar" });
 * net.forward(randn([1, 3, 32, 32])).shape; // [1, 10]
 * ```
 */
export class EPSANet extends BottleneckNet {}

/**
 * EPSANet-50: EPSABlocks [3, 4, 6, 3]; 22,561,715 parameters with 1000 classes.
 *
 * @param options numClasses (default 1000), stem (default "imagenet").
 * @returns The network, in train mode.
 * @example
 * ```ts
 * import { epsanet50 } from "./epsanet.ts";
 * const net = epsanet50({ numClasses: 10, stem: "cifar" });
 * ```
 */
export function epsanet50(options: NetworkOptions = {}): EPSANet {
  return new EPSANet(EPSABlock, [3, 4, 6, 3], options);
}

/**
 * EPSANet-101: EPSABlocks [3, 4, 23, 3]; 38,900,279 parameters with 1000 classes.
 *
 * @param options numClasses (default 1000), stem (default "imagenet").
 * @returns The network, in train mode.
 * @example
 * ```ts
 * import { epsanet101 } from "./epsanet.ts";
 * const net = epsanet101({ numClasses: 100 });
 * ```
 */
export function epsanet101(options: NetworkOptions = {}): EPSANet {
  return new EPSANet(EPSABlock, [3, 4, 23, 3], options);
}
