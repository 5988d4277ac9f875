/**
 * ResNet-50, the baseline of the EPSANet paper, with torchvision's structure (v1.5: the stride
 * sits on the 3x3 conv), names and initialisation.
 *
 * @module
 */

import { EPSANet, type NetworkOptions } from "./epsanet.ts";
import { BatchNorm2d, Conv2d, Module, ReLU, type Sequential } from "./layers.ts";
import type { Tensor } from "./tensor.ts";

/**
 * torchvision's Bottleneck: 1x1 conv, BN, ReLU, 3x3 conv (stride), BN, ReLU, 1x1 conv, BN,
 * plus identity or downsample, ReLU.
 *
 * @example
 * ```ts
 * import { Bottleneck } from "./resnet.ts";
 * import { randn } from "./tensor.ts";
 * new Bottleneck(256, 64).forward(randn([1, 256, 8, 8])).shape; // [1, 256, 8, 8]
 * ```
 */
export class Bottleneck extends Module {
  /** Channel expansion of the block's output. */
  static readonly expansion = 4;
  /** 1x1 reduction. */
  readonly conv1: Conv2d;
  /** After conv1. */
  readonly bn1: BatchNorm2d;
  /** 3x3 conv carrying the stride. */
  readonly conv2: Conv2d;
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
   * @param inplanes Input channels.
   * @param planes Inner channels (output is planes * 4).
   * @param options stride, downsample.
   */
  /** Creates the object; see the class documentation. */
  constructor(
    inplanes: number,
    planes: number,
    options: { stride?: number; downsample?: Sequential | null } = {},
  ) {
    super();
    this.conv1 = this.registerModule("conv1", new Conv2d(inplanes, planes, 1, { bias: false }));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.registerModule(
      "conv2",
      new Conv2d(planes, planes, 3, { stride: options.stride ?? 1, padding: 1, bias: false }),
    );
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.conv3 = this.registerModule("conv3", new Conv2d(planes, planes * 4, 1, { bias: false }));
    this.bn3 = this.registerModule("bn3", new BatchNorm2d(planes * 4));
    this.relu = this.registerModule("relu", new ReLU());
    this.downsample = options.downsample ? this.registerModule("downsample", options.downsample) : null;
  }

  /** Runs the module on `x`. */
  forward(x: Tensor): Tensor {
    let out = this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
    out = this.relu.forward(this.bn2.forward(this.conv2.forward(out)));
    out = this.bn3.forward(this.conv3.forward(out));
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return this.relu.forward(out.add(identity));
  }
}

/**
 * ResNet: the same stem, stages and head as {@linkcode EPSANet}, with Bottleneck blocks.
 *
 * @example
 * ```ts
 * import { Bottleneck, ResNet } from "./resnet.ts";
 * const net = new ResNet(Bottleneck, [3, 4, 6, 3], { numClasses: 10 });
 * ```
 */
export class ResNet extends EPSANet {}

/**
 * ResNet-50: Bottlenecks [3, 4, 6, 3]; 25,557,032 parameters with 1000 classes.
 *
 * @param options numClasses (default 1000), stem (default "imagenet").
 * @returns The network, in train mode.
 * @example
 * ```ts
 * import { resnet50 } from "./resnet.ts";
 * const net = resnet50({ numClasses: 10 });
 * ```
 */
export function resnet50(options: NetworkOptions = {}): ResNet {
  return new ResNet(Bottleneck, [3, 4, 6, 3], options);
}
