/**
 * The skeleton EPSANet and ResNet share: the bottleneck residual block around a middle module, the
 * four stages, and the network (stem, stages, head) with torchvision's names and the official
 * initialisation. nn/epsanet.ts and nn/resnet.ts fill in the blocks.
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
} from "./layers.ts";
import { flatten } from "./ops/mod.ts";
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
 * The bottleneck residual block shared by EPSANet and ResNet (expansion 4): 1x1 conv, BN, ReLU,
 * the middle module (carrying the stride), BN, ReLU, 1x1 conv, BN, plus the identity or the
 * downsample branch, ReLU. Subclasses choose the middle module: PSA for EPSANet's
 * `EPSABlock`, a 3x3 conv for ResNet's `Bottleneck`.
 *
 * @example
 * ```ts
 * import { BottleneckBlock } from "./bottleneck.ts";
 * import { Conv2d } from "./layers.ts";
 * import { randn } from "../mod.ts";
 * class Plain extends BottleneckBlock<Conv2d> {
 *   constructor(inplanes: number, planes: number) {
 *     super(inplanes, planes, new Conv2d(planes, planes, 3, { padding: 1, bias: false }), null);
 *   }
 * }
 * new Plain(256, 64).forward(randn([1, 256, 8, 8])).shape; // [1, 256, 8, 8]
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

/** A residual block class usable by {@linkcode buildStages} and {@linkcode BottleneckNet}. */
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
 * The network skeleton shared by EPSANet and ResNet: stem, four stages of bottleneck blocks,
 * average pool and classifier, with torchvision's layout and names (conv1, bn1, relu, maxpool,
 * layer1..layer4, avgpool, fc) and the official initialisation. The block class makes the network:
 * `EPSANet` and `ResNet` are the two concrete ones; extend it for a new block.
 *
 * @example
 * ```ts
 * import { BottleneckNet } from "./bottleneck.ts";
 * import { Bottleneck } from "./resnet.ts";
 * import { randn } from "../mod.ts";
 * class TinyResNet extends BottleneckNet {}
 * const net = new TinyResNet(Bottleneck, [1, 1, 1, 1], { numClasses: 10, stem: "cifar" });
 * net.forward(randn([1, 3, 32, 32])).shape; // [1, 10]
 * ```
 */
export abstract class BottleneckNet extends Module {
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
   * Builds the stem, the four stages of `block`s, the head, and initialises the convolutions.
   *
   * @param block The residual block class.
   * @param layers Blocks per stage, e.g. [3, 4, 6, 3].
   * @param options numClasses, stem.
   */
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

  /**
   * The official initialisation (EPSANet's and torchvision's ResNet's): every convolution weight,
   * the SE module's 1x1 convs included, N(0, sqrt(2 / (k*k*out))). The rest keeps what the layers
   * start with, which is what the official code leaves: BatchNorm weight 1 and bias 0, and
   * PyTorch's default init for conv biases and the classifier.
   */
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
 * import { buildStages } from "./bottleneck.ts";
 * import { EPSABlock } from "./epsanet.ts";
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
