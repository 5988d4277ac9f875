/**
 * EPSANet (Zhang et al., "EPSANet: An Efficient Pyramid Squeeze Attention Block on Convolutional
 * Neural Network", arXiv 2105.14447), computed exactly as the official PyTorch code does, with its
 * module names, so weights move both ways.
 *
 * @module
 */

import { kaimingNormal } from "./init.ts";
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Identity,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  Sigmoid,
} from "./layers.ts";
import { cat, flatten, softmax } from "./ops/mod.ts";
import { checkInteger } from "./ops/util.ts";
import type { Tensor } from "./tensor.ts";

/** The stem: `"imagenet"` (7x7/2 conv + 3x3/2 max pool) or `"cifar"` (3x3/1 conv, no pool). */
export type Stem = "imagenet" | "cifar";

/** Options shared by the network builders. */
export interface NetworkOptions {
  /** Output classes (default 1000). */
  numClasses?: number;
  /** Stem (default `"imagenet"`); `"cifar"` suits 32x32 inputs. */
  stem?: Stem;
}

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
   * @param channels C.
   * @param options `reduction` (default 16).
   */
  /** Creates the object; see the class documentation. */
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
   * @param inplanes Input channels.
   * @param planes Output channels (divisible by 4, and planes/4 by every group count).
   * @param options convKernels, stride, convGroups.
   */
  /** Creates the object; see the class documentation. */
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
 * The bottleneck residual block shared by EPSANet and ResNet (expansion 4): 1x1 conv, BN, ReLU,
 * the middle module (carrying the stride), BN, ReLU, 1x1 conv, BN, plus the identity or the
 * downsample branch, ReLU. Subclasses choose the middle module: PSA for EPSANet, a 3x3 conv for
 * ResNet.
 *
 * @example
 * ```ts
 * import { EPSABlock } from "./epsanet.ts";
 * import { randn } from "./creation.ts";
 * new EPSABlock(256, 64).forward(randn([1, 256, 8, 8])).shape; // [1, 256, 8, 8]
 * ```
 */
export abstract class BottleneckBlock<Middle extends Module> extends Module {
  /** Channel expansion of the block's output. */
  static readonly expansion = 4;
  /** 1x1 reduction. */
  readonly conv1: Conv2d;
  /** After conv1. */
  readonly bn1: BatchNorm2d;
  /** The middle module: PSA (EPSANet) or a 3x3 conv (ResNet). */
  readonly conv2: Middle;
  /** After conv2. */
  readonly bn2: BatchNorm2d;
  /** 1x1 expansion. */
  readonly conv3: Conv2d;
  /** After conv3. */
  readonly bn3: BatchNorm2d;
  /** Shared ReLU. */
  readonly relu: ReLU;
  /** Projection of the identity, when shapes change. */
  readonly downsample: Sequential | null;

  /**
   * Builds the block around `middle`.
   *
   * @param inplanes Input channels.
   * @param planes Inner channels (output is planes * 4).
   * @param middle The middle module, planes -> planes.
   * @param downsample Projection of the identity, or null.
   */
  constructor(inplanes: number, planes: number, middle: Middle, downsample: Sequential | null) {
    super();
    this.conv1 = this.registerModule("conv1", new Conv2d(inplanes, planes, 1, { bias: false }));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.registerModule("conv2", middle);
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.conv3 = this.registerModule("conv3", new Conv2d(planes, planes * 4, 1, { bias: false }));
    this.bn3 = this.registerModule("bn3", new BatchNorm2d(planes * 4));
    this.relu = this.registerModule("relu", new ReLU());
    this.downsample = downsample ? this.registerModule("downsample", downsample) : null;
  }

  /** Runs the block on `x`. */
  forward(x: Tensor): Tensor {
    let out = this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
    out = this.relu.forward(this.bn2.forward(this.conv2.forward(out)));
    out = this.bn3.forward(this.conv3.forward(out));
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return this.relu.forward(out.add(identity));
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

/** A residual block class usable by {@linkcode buildStages}. */
export interface BlockClass {
  /** Output channels = planes * expansion. */
  readonly expansion: number;
  /** Builds a block. */
  new (
    inplanes: number,
    planes: number,
    options: { stride?: number; downsample?: Sequential | null },
  ): Module;
}

/**
 * The stem + four stages + head shared by EPSANet and ResNet (torchvision's layout and names:
 * conv1, bn1, relu, maxpool, layer1..layer4, avgpool, fc).
 *
 * @example
 * ```ts
 * import { EPSABlock, EPSANet } from "./epsanet.ts";
 * import { randn } from "./creation.ts";
 * const net = new EPSANet(EPSABlock, [1, 1, 1, 1], { numClasses: 10, stem: "cifar" });
 * net.forward(randn([1, 3, 32, 32])).shape; // [1, 10]
 * ```
 */
export class EPSANet extends Module {
  /** Stem convolution. */
  readonly conv1: Conv2d;
  /** Stem batch norm. */
  readonly bn1: BatchNorm2d;
  /** Stem ReLU. */
  readonly relu: ReLU;
  /** Stem max pool (Identity with the CIFAR stem). */
  readonly maxpool: MaxPool2d | Identity;
  /** The four stages. */
  readonly layers: readonly Sequential[];
  /** Global average pool. */
  readonly avgpool: AdaptiveAvgPool2d;
  /** Classifier. */
  readonly fc: Linear;

  /**
   * @param block The residual block class.
   * @param layers Blocks per stage, e.g. [3, 4, 6, 3].
   * @param options numClasses, stem.
   */
  /** Creates the object; see the class documentation. */
  constructor(block: BlockClass, layers: readonly number[], options: NetworkOptions = {}) {
    super();
    const numClasses = options.numClasses ?? 1000;
    const stem = options.stem ?? "imagenet";
    checkInteger(this.constructor.name, "numClasses", numClasses);
    if (stem !== "imagenet" && stem !== "cifar") {
      throw new Error(`${this.constructor.name}: stem must be "imagenet" or "cifar", got "${stem}"`);
    }
    if (layers.length !== 4 || !layers.every((n) => Number.isInteger(n) && n >= 1)) {
      throw new Error(`${this.constructor.name}: layers must be 4 positive integers, got [${layers}]`);
    }
    this.conv1 = this.registerModule(
      "conv1",
      stem === "imagenet"
        ? new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false })
        : new Conv2d(3, 64, 3, { stride: 1, padding: 1, bias: false }),
    );
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(64));
    this.relu = this.registerModule("relu", new ReLU());
    this.maxpool = this.registerModule(
      "maxpool",
      stem === "imagenet" ? new MaxPool2d(3, { stride: 2, padding: 1 }) : new Identity(),
    );
    this.layers = buildStages(block, layers).map((stage, i) => this.registerModule(`layer${i + 1}`, stage));
    this.avgpool = this.registerModule("avgpool", new AdaptiveAvgPool2d(1));
    this.fc = this.registerModule("fc", new Linear(512 * block.expansion, numClasses));
    this.initWeights();
  }

  /** Official initialisation: every conv N(0, sqrt(2 / (k*k*out))), BN weight 1 and bias 0. */
  protected initWeights(): void {
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) kaimingNormal(m.weight, "fanOut");
    }
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    let out = this.maxpool.forward(this.relu.forward(this.bn1.forward(this.conv1.forward(x))));
    for (const stage of this.layers) out = stage.forward(out);
    return this.fc.forward(flatten(this.avgpool.forward(out), 1));
  }
}

/**
 * The four stages (64, 128, 256, 512 planes; strides 1, 2, 2, 2), with a 1x1-conv + BN
 * downsample on the first block of a stage whenever the shape changes.
 *
 * @param block The residual block class.
 * @param layers Blocks per stage.
 * @returns Four Sequentials.
 * @example
 * ```ts
 * import { buildStages, EPSABlock } from "./epsanet.ts";
 * buildStages(EPSABlock, [1, 1, 1, 1]).length; // 4
 * ```
 */
export function buildStages(block: BlockClass, layers: readonly number[]): Sequential[] {
  let inplanes = 64;
  return [64, 128, 256, 512].map((planes, i) => {
    const stride = i === 0 ? 1 : 2;
    const out = planes * block.expansion;
    const downsample = stride !== 1 || inplanes !== out
      ? new Sequential(new Conv2d(inplanes, out, 1, { stride, bias: false }), new BatchNorm2d(out))
      : null;
    const blocks = [new block(inplanes, planes, { stride, downsample })];
    inplanes = out;
    for (let b = 1; b < layers[i]; b++) blocks.push(new block(inplanes, planes, {}));
    return new Sequential(...blocks);
  });
}

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
