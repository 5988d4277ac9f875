/**
 * The ImageNet recipe's transforms with torchvision's semantics on 8-bit CHW RGB images:
 * Resize(shorter side) with PIL's bilinear filter (antialiased when shrinking), CenterCrop,
 * RandomResizedCrop (scale (0.08, 1), ratio (3/4, 4/3)), RandomHorizontalFlip and the ImageNet
 * normalisation. Random choices draw from the project's seeded {@linkcode Generator}.
 *
 * @module
 */

import type { Generator } from "../../nn/random.ts";
import type { Normalization } from "./dataset.ts";
import type { RgbImage } from "./image_decode.ts";
import { normalize, type SampleTransform, toFloat } from "./transforms.ts";

/**
 * ImageNet's channel statistics, as in torchvision's reference recipe.
 *
 * @example
 * ```ts
 * import { IMAGENET_NORMALIZATION } from "./image_transforms.ts";
 * console.log(IMAGENET_NORMALIZATION.mean); // [0.485, 0.456, 0.406]
 * ```
 */
export const IMAGENET_NORMALIZATION: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/**
 * A crop box: top row, left column, height, width.
 *
 * @example
 * ```ts
 * import type { CropBox } from "./image_transforms.ts";
 * const whole: CropBox = { top: 0, left: 0, height: 32, width: 32 };
 * ```
 */
export interface CropBox {
  /** First row. */
  top: number;
  /** First column. */
  left: number;
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/** Python's round(): halves go to the even neighbour (torchvision's geometry uses it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * PIL's bilinear resize (`Image.resize(size, Image.BILINEAR)`): a triangle filter whose support
 * grows with the shrink factor (so shrinking averages, as PIL does), horizontal pass first, each
 * pass rounded to 8 bits. Results match PIL within 1 level (PIL uses fixed-point weights).
 *
 * @param image Source image.
 * @param outWidth Output width.
 * @param outHeight Output height.
 * @param box Region of the source to resize (default: all of it).
 * @returns The resized image.
 * @example
 * ```ts
 * import { resizePil } from "./image_transforms.ts";
 * const small = resizePil({ width: 4, height: 4, pixels: new Uint8Array(48) }, 2, 2);
 * console.log(small.width); // 2
 * ```
 */
export function resizePil(image: RgbImage, outWidth: number, outHeight: number, box?: CropBox): RgbImage {
  const b = box ?? { top: 0, left: 0, height: image.height, width: image.width };
  const xs = filterWeights(b.left, b.width, image.width, outWidth);
  const ys = filterWeights(b.top, b.height, image.height, outHeight);
  const { width, height } = image;
  const temp = new Uint8Array(3 * height * outWidth);
  const out = new Uint8Array(3 * outHeight * outWidth);
  for (let c = 0; c < 3; c++) {
    const src = c * width * height;
    const mid = c * height * outWidth;
    for (let y = ys.first; y < ys.last; y++) {
      for (let x = 0; x < outWidth; x++) {
        let sum = 0;
        for (let k = 0, s = xs.start[x]; k < xs.count[x]; k++, s++) {
          sum += xs.weights[x][k] * image.pixels[src + y * width + s];
        }
        temp[mid + y * outWidth + x] = clip8(sum);
      }
    }
    const dst = c * outWidth * outHeight;
    for (let y = 0; y < outHeight; y++) {
      for (let x = 0; x < outWidth; x++) {
        let sum = 0;
        for (let k = 0, s = ys.start[y]; k < ys.count[y]; k++, s++) {
          sum += ys.weights[y][k] * temp[mid + s * outWidth + x];
        }
        out[dst + y * outWidth + x] = clip8(sum);
      }
    }
  }
  return { width: outWidth, height: outHeight, pixels: out };
}

function clip8(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.floor(v + 0.5);
}

/** PIL's precompute_coeffs for the bilinear (triangle) filter over [offset, offset + size). */
function filterWeights(offset: number, size: number, inSize: number, outSize: number) {
  const scale = size / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's support is 1
  const start: number[] = [], count: number[] = [], weights: number[][] = [];
  let first = inSize, last = 0;
  for (let i = 0; i < outSize; i++) {
    const center = offset + (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w: number[] = [];
    let total = 0;
    for (let x = lo; x < hi; x++) {
      const t = Math.abs((x - center + 0.5) / filterScale);
      const v = t < 1 ? 1 - t : 0;
      w.push(v);
      total += v;
    }
    for (let k = 0; k < w.length; k++) w[k] = total === 0 ? 0 : w[k] / total;
    start.push(lo), count.push(hi - lo), weights.push(w);
    first = Math.min(first, lo), last = Math.max(last, hi);
  }
  return { start, count, weights, first, last };
}

/**
 * torchvision's `Resize(size)` for an int size: the shorter side becomes `size`, the longer one
 * `int(size * long / short)`.
 *
 * @param image Source image.
 * @param size Shorter side after resizing.
 * @returns The resized image (the same object when nothing changes, as torchvision does).
 * @example
 * ```ts
 * import { resizeShorter } from "./image_transforms.ts";
 * const r = resizeShorter({ width: 40, height: 20, pixels: new Uint8Array(2400) }, 10);
 * console.log(r.width, r.height); // 20 10
 * ```
 */
export function resizeShorter(image: RgbImage, size: number): RgbImage {
  const { width, height } = image;
  const short = Math.min(width, height), long = Math.max(width, height);
  if (short === size) return image;
  const other = Math.trunc(size * long / short);
  return width <= height ? resizePil(image, size, other) : resizePil(image, other, size);
}

/**
 * torchvision's CenterCrop box: offsets `int(round((in - out) / 2))` (Python's rounding).
 *
 * @param height Image height (at least `size`).
 * @param width Image width (at least `size`).
 * @param size Side of the square crop.
 * @returns The box.
 * @example
 * ```ts
 * import { centerCropBox } from "./image_transforms.ts";
 * console.log(centerCropBox(5, 8, 4)); // { top: 0, left: 2, height: 4, width: 4 }
 * ```
 */
export function centerCropBox(height: number, width: number, size: number): CropBox {
  if (height < size || width < size) throw new Error(`centerCrop: ${height}x${width} is smaller than ${size}`);
  return {
    top: roundHalfEven((height - size) / 2),
    left: roundHalfEven((width - size) / 2),
    height: size,
    width: size,
  };
}

/**
 * Copies a box out of an image.
 *
 * @param image Source image.
 * @param box Region inside the image.
 * @returns The crop.
 * @example
 * ```ts
 * import { crop } from "./image_transforms.ts";
 * const c = crop({ width: 2, height: 2, pixels: new Uint8Array(12) }, { top: 0, left: 0, height: 1, width: 1 });
 * console.log(c.pixels.length); // 3
 * ```
 */
export function crop(image: RgbImage, box: CropBox): RgbImage {
  const pixels = new Uint8Array(3 * box.height * box.width);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < box.height; y++) {
      const from = (c * image.height + box.top + y) * image.width + box.left;
      pixels.set(image.pixels.subarray(from, from + box.width), (c * box.height + y) * box.width);
    }
  }
  return { width: box.width, height: box.height, pixels };
}

/**
 * The evaluation transform of the recipe: Resize(resize) then CenterCrop(size).
 *
 * @param image Source image.
 * @param resize Shorter side after resizing (256 for ImageNet at 224).
 * @param size Side of the output.
 * @returns A size x size image.
 * @example
 * ```ts
 * import { resizeCenterCrop } from "./image_transforms.ts";
 * console.log(resizeCenterCrop({ width: 50, height: 40, pixels: new Uint8Array(6000) }, 20, 16).width); // 16
 * ```
 */
export function resizeCenterCrop(image: RgbImage, resize: number, size: number): RgbImage {
  const resized = resizeShorter(image, resize);
  return crop(resized, centerCropBox(resized.height, resized.width, size));
}

/**
 * torchvision's `RandomResizedCrop.get_params` from uniform draws, taken in torchvision's order:
 * each of up to 10 attempts draws the area fraction and the log aspect ratio, and a valid one then
 * draws the top row and the left column; after 10 failures, the central crop clamped to `ratio`.
 *
 * @param height Image height.
 * @param width Image width.
 * @param uniform Returns the next uniform number in [0, 1), such as `() => rng.uniform()`.
 * @param scale Range of the crop's area fraction.
 * @param ratio Range of the crop's aspect ratio (width / height).
 * @returns The box.
 * @example
 * ```ts
 * import { randomResizedCropBox } from "./image_transforms.ts";
 * const box = randomResizedCropBox(100, 100, () => 0.5);
 * console.log(box.width); // 73
 * ```
 */
export function randomResizedCropBox(
  height: number,
  width: number,
  uniform: () => number,
  scale: readonly [number, number] = [0.08, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropBox {
  const area = height * width;
  const logLo = Math.log(ratio[0]), logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + uniform() * (scale[1] - scale[0]));
    const aspect = Math.exp(logLo + uniform() * (logHi - logLo));
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = Math.floor(uniform() * (height - h + 1));
      return { top, left: Math.floor(uniform() * (width - w + 1)), height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width, h = height;
  if (inRatio < Math.min(...ratio)) h = roundHalfEven(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = roundHalfEven(h * Math.max(...ratio));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/**
 * The training transform of the recipe: RandomResizedCrop(size) then RandomHorizontalFlip(p).
 *
 * @param image Source image.
 * @param size Side of the output.
 * @param rng Seeded generator (same seed, same crops and flips).
 * @param flipProbability Chance of a horizontal flip (default 0.5).
 * @returns A size x size image.
 * @example
 * ```ts
 * import { randomResizedCrop } from "./image_transforms.ts";
 * import { Generator } from "../../nn/random.ts";
 * const img = { width: 50, height: 40, pixels: new Uint8Array(6000) };
 * console.log(randomResizedCrop(img, 16, new Generator(1)).width); // 16
 * ```
 */
export function randomResizedCrop(image: RgbImage, size: number, rng: Generator, flipProbability = 0.5): RgbImage {
  const box = randomResizedCropBox(image.height, image.width, () => rng.uniform());
  // torchvision crops first, then resizes the crop: the filter never reads outside the box
  const out = resizePil(crop(image, box), size, size);
  return rng.uniform() < flipProbability ? flipHorizontal(out) : out;
}

/**
 * Mirrors an image left to right (in place).
 *
 * @param image The image.
 * @returns `image`.
 * @example
 * ```ts
 * import { flipHorizontal } from "./image_transforms.ts";
 * console.log(flipHorizontal({ width: 2, height: 1, pixels: new Uint8Array([1, 2, 0, 0, 0, 0]) }).pixels[0]); // 2
 * ```
 */
export function flipHorizontal(image: RgbImage): RgbImage {
  const { width, pixels } = image;
  for (let row = 0; row < 3 * image.height; row++) pixels.subarray(row * width, (row + 1) * width).reverse();
  return image;
}

/**
 * The recipe's training transform as a loader transform: RandomResizedCrop(imageSize) of the
 * stored image, RandomHorizontalFlip, to [0, 1], Normalize.
 *
 * @param options Stored geometry, output side, normalisation, flip chance (default 0.5).
 * @returns The transform.
 * @example
 * ```ts
 * import { IMAGENET_NORMALIZATION, randomResizedCropTransform } from "./image_transforms.ts";
 * const t = randomResizedCropTransform({ height: 36, width: 36, imageSize: 32, ...IMAGENET_NORMALIZATION });
 * console.log(t.size); // 32
 * ```
 */
export function randomResizedCropTransform(
  options: Normalization & { height: number; width: number; imageSize: number; flipProbability?: number },
): SampleTransform {
  const { height, width, imageSize, flipProbability = 0.5 } = options;
  return {
    size: imageSize,
    apply(image: Uint8Array, rng: Generator, out: Float32Array): void {
      const cropped = randomResizedCrop({ width, height, pixels: image }, imageSize, rng, flipProbability);
      toFloat(cropped.pixels, out);
      normalize(out, options.mean, options.std, imageSize * imageSize);
    },
  };
}
