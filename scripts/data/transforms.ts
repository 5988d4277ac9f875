/**
 * Per-image transforms on CHW float images: byte-to-float scaling, normalisation, bilinear resize
 * (PyTorch semantics), random crop with zero padding, horizontal flip, and the train / test
 * pipelines built from them. Plain loops over typed arrays; callers pass `out` buffers to avoid
 * allocating per image.
 *
 * @module
 */

import type { Generator } from "../../nn/random.ts";
import type { Normalization } from "./dataset.ts";

/**
 * Scales bytes to floats in [0, 1] (divides by 255).
 *
 * @param bytes Pixels 0..255.
 * @param out Destination (default: a new array of the same length).
 * @returns `out`.
 * @example
 * ```ts
 * import { toFloat } from "./transforms.ts";
 * console.log(toFloat(new Uint8Array([0, 255]))); // Float32Array [0, 1]
 * ```
 */
export function toFloat(bytes: Uint8Array, out: Float32Array = new Float32Array(bytes.length)): Float32Array {
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

/**
 * Normalises CHW images in place: `(x - mean[c]) / std[c]`.
 *
 * @param images One image (C*H*W) or a batch (B*C*H*W).
 * @param mean Per-channel means.
 * @param std Per-channel standard deviations.
 * @param planeSize H*W (default: `images.length / mean.length`, right for a single image).
 * @returns `images`.
 * @example
 * ```ts
 * import { normalize } from "./transforms.ts";
 * const x = normalize(new Float32Array([0.5, 0.5, 0.5]), [0.5, 0, 0], [1, 1, 0.5]);
 * console.log(x); // Float32Array [0, 0.5, 1]
 * ```
 */
export function normalize(
  images: Float32Array,
  mean: readonly number[],
  std: readonly number[],
  planeSize: number = images.length / mean.length,
): Float32Array {
  const channels = mean.length;
  if (!Number.isInteger(planeSize) || images.length % (planeSize * channels) !== 0) {
    throw new Error(
      `normalize: ${images.length} values are not whole images of ${channels} planes of ${planeSize}; ` +
        `pass planeSize = height * width`,
    );
  }
  for (let start = 0, c = 0; start < images.length; start += planeSize, c = (c + 1) % channels) {
    const m = mean[c];
    const inverse = 1 / std[c];
    for (let i = start; i < start + planeSize; i++) images[i] = (images[i] - m) * inverse;
  }
  return images;
}

/**
 * Bilinear resize of a CHW image with the semantics of PyTorch's
 * `F.interpolate(x, (outHeight, outWidth), mode="bilinear", align_corners=False)` without
 * antialiasing: half-pixel centres, source coordinate `(dst + 0.5) * in / out - 0.5` clamped at 0,
 * the far neighbour clamped at the border.
 *
 * @param image C*height*width floats.
 * @param height Input height.
 * @param width Input width.
 * @param outHeight Output height.
 * @param outWidth Output width.
 * @param out Destination of C*outHeight*outWidth floats (default: new).
 * @returns `out`.
 * @example
 * ```ts
 * import { resizeBilinear } from "./transforms.ts";
 * const up = resizeBilinear(new Float32Array([0, 1]), 1, 2, 1, 4);
 * console.log(up); // Float32Array [0, 0.25, 0.75, 1]
 * ```
 */
export function resizeBilinear(
  image: Float32Array,
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
  out: Float32Array = new Float32Array((image.length / (height * width)) * outHeight * outWidth),
): Float32Array {
  const channels = image.length / (height * width);
  if (height === outHeight && width === outWidth) {
    out.set(image.subarray(0, channels * height * width));
    return out;
  }
  const [x0, x1, xWeight] = sourceTaps(width, outWidth);
  const [y0, y1, yWeight] = sourceTaps(height, outHeight);
  for (let c = 0; c < channels; c++) {
    const src = c * height * width;
    const dst = c * outHeight * outWidth;
    for (let y = 0; y < outHeight; y++) {
      const top = src + y0[y] * width;
      const bottom = src + y1[y] * width;
      const wy = yWeight[y];
      const row = dst + y * outWidth;
      for (let x = 0; x < outWidth; x++) {
        const a = x0[x];
        const b = x1[x];
        const wx = xWeight[x];
        const upper = image[top + a] + (image[top + b] - image[top + a]) * wx;
        const lower = image[bottom + a] + (image[bottom + b] - image[bottom + a]) * wx;
        out[row + x] = upper + (lower - upper) * wy;
      }
    }
  }
  return out;
}

/** For each output index along one axis: near source index, far source index, far weight. */
function sourceTaps(size: number, outSize: number): [Int32Array, Int32Array, Float32Array] {
  const near = new Int32Array(outSize);
  const far = new Int32Array(outSize);
  const weight = new Float32Array(outSize);
  const scale = size / outSize;
  for (let i = 0; i < outSize; i++) {
    const source = Math.max((i + 0.5) * scale - 0.5, 0);
    near[i] = Math.min(Math.floor(source), size - 1);
    far[i] = Math.min(near[i] + 1, size - 1);
    weight[i] = source - near[i];
  }
  return [near, far, weight];
}

/**
 * Crops a size x size window at (`top`, `left`) from the image padded with `padding` zeros on each
 * side (window coordinates are in the padded image).
 *
 * @param image C*height*width floats.
 * @param height Input height.
 * @param width Input width.
 * @param size Side of the square window.
 * @param padding Zero padding on every side.
 * @param top Window row in the padded image, 0..height + 2*padding - size.
 * @param left Window column in the padded image, 0..width + 2*padding - size.
 * @param out Destination of C*size*size floats (default: new).
 * @returns `out`.
 * @example
 * ```ts
 * import { cropPadded } from "./transforms.ts";
 * console.log(cropPadded(new Float32Array([1, 2, 3, 4]), 2, 2, 2, 1, 0, 0)); // [0, 0, 0, 1]
 * ```
 */
export function cropPadded(
  image: Float32Array,
  height: number,
  width: number,
  size: number,
  padding: number,
  top: number,
  left: number,
  out: Float32Array = new Float32Array((image.length / (height * width)) * size * size),
): Float32Array {
  const channels = image.length / (height * width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < size; y++) {
      const sy = top + y - padding;
      const row = (c * size + y) * size;
      if (sy < 0 || sy >= height) {
        out.fill(0, row, row + size);
        continue;
      }
      const src = (c * height + sy) * width;
      for (let x = 0; x < size; x++) {
        const sx = left + x - padding;
        out[row + x] = sx >= 0 && sx < width ? image[src + sx] : 0;
      }
    }
  }
  return out;
}

/**
 * torchvision's `RandomCrop(size, padding)`: pads with zeros, then crops a size x size window at a
 * uniformly random position (row first, then column, both from `rng`).
 *
 * @param image C*height*width floats.
 * @param height Input height.
 * @param width Input width.
 * @param size Side of the square crop.
 * @param padding Zero padding on every side (CIFAR recipe: 4).
 * @param rng Generator for the position.
 * @param out Destination of C*size*size floats (default: new).
 * @returns `out`.
 * @example
 * ```ts
 * import { randomCrop } from "./transforms.ts";
 * import { Generator } from "../../nn/random.ts";
 * const crop = randomCrop(new Float32Array(3 * 32 * 32), 32, 32, 32, 4, new Generator(0));
 * console.log(crop.length); // 3072
 * ```
 */
export function randomCrop(
  image: Float32Array,
  height: number,
  width: number,
  size: number,
  padding: number,
  rng: Generator,
  out?: Float32Array,
): Float32Array {
  if (size > height + 2 * padding || size > width + 2 * padding) {
    throw new Error(
      `randomCrop: a ${size}x${size} crop does not fit a ${height}x${width} image padded by ${padding}`,
    );
  }
  const top = rng.int(height + 2 * padding - size + 1);
  const left = rng.int(width + 2 * padding - size + 1);
  return cropPadded(image, height, width, size, padding, top, left, out);
}

/**
 * Mirrors a CHW image left-right, in place.
 *
 * @param image C*height*width floats.
 * @param height Image height.
 * @param width Image width.
 * @returns `image`.
 * @example
 * ```ts
 * import { horizontalFlip } from "./transforms.ts";
 * console.log(horizontalFlip(new Float32Array([1, 2, 3]), 1, 3)); // [3, 2, 1]
 * ```
 */
export function horizontalFlip(image: Float32Array, height: number, width: number): Float32Array {
  if (image.length % (height * width) !== 0) {
    throw new Error(`horizontalFlip: ${image.length} values are not whole ${height}x${width} planes`);
  }
  for (let row = 0; row < image.length; row += width) {
    for (let a = row, b = row + width - 1; a < b; a++, b--) {
      const t = image[a];
      image[a] = image[b];
      image[b] = t;
    }
  }
  return image;
}

/**
 * torchvision's `RandomHorizontalFlip(p)`: flips in place when `rng.uniform() < probability`.
 *
 * @param image C*height*width floats.
 * @param height Image height.
 * @param width Image width.
 * @param rng Generator (one draw per call).
 * @param probability Chance of flipping (default 0.5).
 * @returns `image`.
 * @example
 * ```ts
 * import { randomHorizontalFlip } from "./transforms.ts";
 * import { Generator } from "../../nn/random.ts";
 * randomHorizontalFlip(new Float32Array([1, 2]), 1, 2, new Generator(1));
 * ```
 */
export function randomHorizontalFlip(
  image: Float32Array,
  height: number,
  width: number,
  rng: Generator,
  probability = 0.5,
): Float32Array {
  return rng.uniform() < probability ? horizontalFlip(image, height, width) : image;
}

/**
 * A per-sample pipeline from a stored byte image to a model input.
 *
 * @example
 * ```ts
 * import { testTransform } from "./transforms.ts";
 * import { CIFAR10_NORMALIZATION } from "./cifar10.ts";
 * const t = testTransform({ height: 32, width: 32, imageSize: 64, ...CIFAR10_NORMALIZATION });
 * console.log(t.size); // 64
 * ```
 */
export interface SampleTransform {
  /** Side of the output images. */
  readonly size: number;
  /**
   * Writes the transformed image (3*size*size floats) into `out`.
   *
   * @param image One stored image, 3*height*width bytes.
   * @param rng Generator for random augmentations.
   * @param out Destination.
   */
  apply(image: Uint8Array, rng: Generator, out: Float32Array): void;
}

/**
 * Options of {@linkcode trainTransform} and {@linkcode testTransform}.
 *
 * @example
 * ```ts
 * import type { TransformOptions } from "./transforms.ts";
 * const options: TransformOptions = { height: 32, width: 32, imageSize: 32, mean: [0, 0, 0], std: [1, 1, 1] };
 * ```
 */
export interface TransformOptions extends Normalization {
  /** Stored image height. */
  height: number;
  /** Stored image width. */
  width: number;
  /** Output side (the model's input size). */
  imageSize: number;
  /** Zero padding of the random crop (train only, default 4). */
  padding?: number;
  /** Chance of a horizontal flip (train only, default 0.5). */
  flipProbability?: number;
}

/**
 * The training pipeline: to [0, 1], random crop to the stored size with zero padding, random
 * horizontal flip, bilinear resize to `imageSize`, normalise. Images must be square.
 *
 * @param options Image geometry, output size, normalisation, augmentation settings.
 * @returns The transform.
 * @example
 * ```ts
 * import { trainTransform } from "./transforms.ts";
 * import { CIFAR10_NORMALIZATION } from "./cifar10.ts";
 * const t = trainTransform({ height: 32, width: 32, imageSize: 32, ...CIFAR10_NORMALIZATION });
 * ```
 */
export function trainTransform(options: TransformOptions): SampleTransform {
  const { height, width, imageSize, padding = 4, flipProbability = 0.5 } = options;
  if (height !== width) throw new Error(`trainTransform: images must be square, got ${height}x${width}`);
  const scaled = new Float32Array(3 * height * width);
  const cropped = new Float32Array(3 * height * width);
  return {
    size: imageSize,
    apply(image: Uint8Array, rng: Generator, out: Float32Array): void {
      toFloat(image, scaled);
      randomCrop(scaled, height, width, height, padding, rng, cropped);
      randomHorizontalFlip(cropped, height, width, rng, flipProbability);
      resizeBilinear(cropped, height, width, imageSize, imageSize, out);
      normalize(out, options.mean, options.std, imageSize * imageSize);
    },
  };
}

/**
 * The evaluation pipeline: to [0, 1], bilinear resize to `imageSize`, normalise.
 *
 * @param options Image geometry, output size, normalisation.
 * @returns The transform (it draws nothing from the generator).
 * @example
 * ```ts
 * import { testTransform } from "./transforms.ts";
 * import { DIGITS_NORMALIZATION } from "./digits.ts";
 * const t = testTransform({ height: 32, width: 32, imageSize: 32, ...DIGITS_NORMALIZATION });
 * ```
 */
export function testTransform(options: TransformOptions): SampleTransform {
  const { height, width, imageSize } = options;
  const scaled = new Float32Array(3 * height * width);
  return {
    size: imageSize,
    apply(image: Uint8Array, _rng: Generator, out: Float32Array): void {
      resizeBilinear(toFloat(image, scaled), height, width, imageSize, imageSize, out);
      normalize(out, options.mean, options.std, imageSize * imageSize);
    },
  };
}
