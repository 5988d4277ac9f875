/**
 * ResNet-50, the baseline of the EPSANet paper, with torchvision's structure (v1.5: the stride
 * sits on the 3x3 conv), names and initialisation.
 *
 * @module
 */

import { BottleneckBlock, BottleneckNet, type NetworkOptions } from "./bottleneck.ts";
import { Conv2d, type Sequential } from "./layers.ts";

/**
 * torchvision's Bottleneck: a {@linkcode BottleneckBlock} whose middle module is a 3x3 conv
 * carrying the stride.
 *
 * @example
 * ```ts
 * import { Bottleneck } from "./resnet.ts";
 * import { randn } from "./creation.ts";
 * new Bottleneck(256, 64).forward(randn([1, 256, 8, 8])).shape; // [1, 256, 8, 8]
 * ```
 */
export class Bottleneck extends BottleneckBlock<Conv2d> {
  /**
   * Builds the block with its 3x3 conv.
   *
   * @param inplanes Input channels.
   * @param planes Inner channels (output is planes * 4).
   * @param options stride, downsample.
   */
  constructor(inplanes: number, planes: number, options: { stride?: number; downsample?: Sequential | null } = {}) {
    super(
      inplanes,
      planes,
      new Conv2d(planes, planes, 3, { stride: options.stride ?? 1, padding: 1, bias: false }),
      options.downsample ?? null,
    );
  }
}

/**
 * ResNet (torchvision's `ResNet(block, layers, num_classes)`): a {@linkcode BottleneckNet} of
 * {@linkcode Bottleneck} blocks, the same stem, stages and head as EPSANet.
 *
 * @example
 * ```ts
 * import { Bottleneck, ResNet } from "./resnet.ts";
 * const net = new ResNet(Bottleneck, [3, 4, 6, 3], { numClasses: 10 });
 * ```
 */
export class ResNet extends BottleneckNet {}

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
