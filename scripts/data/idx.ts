/**
 * MNIST and Fashion-MNIST from the four standard `*-idx?-ubyte.gz` files (LeCun's IDX format).
 *
 * @module
 */

import { gunzipSync } from "node:zlib";
import { join } from "node:path";
import type { DatasetSplits, ImageDataset, Normalization } from "./dataset.ts";
import { downloadFile, type ProgressCallback } from "./download.ts";

/** The IDX datasets. */
export type IdxDatasetName = "mnist" | "fashion-mnist";

/** One of the four files: name, official MD5 of the .gz and its size. */
interface IdxFile {
  name: string;
  md5: string;
  size: number;
}

interface IdxSource {
  baseUrl: string;
  files: [IdxFile, IdxFile, IdxFile, IdxFile];
  classes: string[];
  normalization: Normalization;
}

const PAD = 2;

/**
 * Where each IDX dataset comes from (MD5s as torchvision lists them). MNIST's original host
 * (yann.lecun.com) now refuses anonymous downloads, so the PyTorch mirror is used.
 *
 * @example
 * ```ts
 * import { IDX_SOURCES } from "./idx.ts";
 * console.log(IDX_SOURCES["fashion-mnist"].files[0].name); // train-images-idx3-ubyte.gz
 * ```
 */
export const IDX_SOURCES: Record<IdxDatasetName, IdxSource> = {
  "mnist": {
    baseUrl: "https://ossci-datasets.s3.amazonaws.com/mnist/",
    files: [
      { name: "train-images-idx3-ubyte.gz", md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873", size: 9912422 },
      { name: "train-labels-idx1-ubyte.gz", md5: "d53e105ee54ea40749a09fcbcd1e9432", size: 28881 },
      { name: "t10k-images-idx3-ubyte.gz", md5: "9fb629c4189551a2d022fa330f9573f3", size: 1648877 },
      { name: "t10k-labels-idx1-ubyte.gz", md5: "ec29112dd5afa0611ce80d1b7f02629c", size: 4542 },
    ],
    classes: Array.from({ length: 10 }, (_, d) => String(d)),
    // Statistics of the 28x28 training images, scaled for the 2-pixel zero border.
    normalization: { mean: [0.1001, 0.1001, 0.1001], std: [0.2752, 0.2752, 0.2752] },
  },
  "fashion-mnist": {
    baseUrl: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    files: [
      { name: "train-images-idx3-ubyte.gz", md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d", size: 26421880 },
      { name: "train-labels-idx1-ubyte.gz", md5: "25c81989df183df01b3e8a0aad5dffbe", size: 29515 },
      { name: "t10k-images-idx3-ubyte.gz", md5: "bef4ecab320f06d8554ea6940940ad4e", size: 4422102 },
      { name: "t10k-labels-idx1-ubyte.gz", md5: "bb300cfdad3c16e7a12a480ee83cd310", size: 5148 },
    ],
    classes: ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    // torchvision's 0.2860/0.3530 rescaled for the zero border, as for MNIST.
    normalization: { mean: [0.2190, 0.2190, 0.2190], std: [0.3318, 0.3318, 0.3318] },
  },
};

/**
 * A parsed IDX array: unsigned bytes and their dimensions.
 *
 * @example
 * ```ts
 * import type { IdxArray } from "./idx.ts";
 * const a: IdxArray = { dims: [1], data: new Uint8Array(1) };
 * ```
 */
export interface IdxArray {
  /** Dimensions, outermost first. */
  dims: number[];
  /** The values, row-major. */
  data: Uint8Array;
}

/**
 * Parses an IDX file (gzipped or not) of unsigned bytes (type code 0x08).
 *
 * @param bytes File contents.
 * @param label File name for error messages.
 * @returns Dimensions and data.
 * @example
 * ```ts
 * import { parseIdx } from "./idx.ts";
 * const a = parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]), "x");
 * console.log(a.dims, a.data); // [2] Uint8Array [7, 9]
 * ```
 */
export function parseIdx(bytes: Uint8Array, label: string): IdxArray {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = new Uint8Array(gunzipSync(bytes));
    } catch (error) {
      throw new Error(`${label} is not a valid gzip file (${(error as Error).message}); download it again`);
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(`${label} is not an IDX file (bad magic number); download it again`);
  }
  if (bytes[2] !== 0x08) {
    throw new Error(`${label} holds IDX type 0x${bytes[2].toString(16)}, only unsigned bytes (0x08) are supported`);
  }
  const rank = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = 4 + 4 * rank;
  if (rank === 0 || bytes.length < header) throw new Error(`${label} has a truncated IDX header; download it again`);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - header !== count) {
    throw new Error(
      `${label} holds ${bytes.length - header} data bytes, its header promises ${count}; download it again`,
    );
  }
  return { dims, data: bytes.subarray(header) };
}

/**
 * Builds a dataset split from parsed IDX images (N, H, W) and labels (N): each image gets a
 * 2-pixel zero border (28x28 becomes 32x32, as the models expect) and is repeated over 3 channels.
 *
 * @param name Dataset name.
 * @param images IDX images.
 * @param labels IDX labels.
 * @param classes Class names.
 * @returns The split.
 * @example
 * ```ts
 * import { idxSplit } from "./idx.ts";
 * const s = idxSplit("mnist", { dims: [1, 1, 1], data: new Uint8Array([5]) }, { dims: [1], data: new Uint8Array([3]) }, ["0","1","2","3"]);
 * console.log(s.height); // 5
 * ```
 */
export function idxSplit(name: string, images: IdxArray, labels: IdxArray, classes: string[]): ImageDataset {
  if (images.dims.length !== 3) throw new Error(`${name} images must be (N, H, W), got (${images.dims.join(", ")})`);
  const [n, h, w] = images.dims;
  if (labels.dims.length !== 1 || labels.dims[0] !== n) {
    throw new Error(`${name} has ${n} images but labels of shape (${labels.dims.join(", ")})`);
  }
  const bad = labels.data.findIndex((l) => l >= classes.length);
  if (bad >= 0) throw new Error(`${name} label ${bad} is ${labels.data[bad]}, expected < ${classes.length}`);
  const height = h + 2 * PAD, width = w + 2 * PAD, plane = height * width;
  const out = new Uint8Array(n * 3 * plane);
  for (let i = 0; i < n; i++) {
    const image = out.subarray(i * 3 * plane, (i + 1) * 3 * plane);
    for (let y = 0; y < h; y++) {
      image.set(images.data.subarray((i * h + y) * w, (i * h + y + 1) * w), (y + PAD) * width + PAD);
    }
    image.copyWithin(plane, 0, plane);
    image.copyWithin(2 * plane, 0, plane);
  }
  return { name, images: out, labels: labels.data.slice(), count: n, channels: 3, height, width, classes };
}

/**
 * Loads MNIST or Fashion-MNIST from the four `.gz` files in `dataDir`.
 *
 * @param name Dataset name.
 * @param dataDir Folder holding the four files.
 * @returns Train and test splits (32x32, 3 channels).
 * @example
 * ```ts ignore
 * import { loadIdxDataset } from "./idx.ts";
 * const { test } = await loadIdxDataset("fashion-mnist", "/usr/share/datasets/fashion-mnist");
 * console.log(test.count); // 10000
 * ```
 */
export async function loadIdxDataset(name: IdxDatasetName, dataDir: string): Promise<DatasetSplits> {
  const source = IDX_SOURCES[name];
  const arrays = await Promise.all(source.files.map(async (file) => {
    const path = join(dataDir, file.name);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new Error(
        `${name}: ${path} is missing; run \`deno task data --dataset ${name} --data-dir ${dataDir}\` ` +
          `or place the four files from ${source.baseUrl} there`,
      );
    }
    return parseIdx(bytes, path);
  }));
  return {
    train: idxSplit(name, arrays[0], arrays[1], source.classes),
    test: idxSplit(name, arrays[2], arrays[3], source.classes),
  };
}

/**
 * Downloads the four files of an IDX dataset into `dataDir` (skipping files already there),
 * each checked against its official MD5 and size.
 *
 * @param name Dataset name.
 * @param dataDir Destination folder.
 * @param onProgress Progress callback, given the file name.
 * @returns Nothing; the files are in `dataDir`.
 * @example
 * ```ts ignore
 * import { downloadIdxDataset } from "./idx.ts";
 * await downloadIdxDataset("mnist", "/tmp/mnist");
 * ```
 */
export async function downloadIdxDataset(
  name: IdxDatasetName,
  dataDir: string,
  onProgress?: (file: string) => ProgressCallback,
): Promise<void> {
  const source = IDX_SOURCES[name];
  await Deno.mkdir(dataDir, { recursive: true });
  for (const file of source.files) {
    const destination = join(dataDir, file.name);
    try {
      await Deno.stat(destination);
      continue;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    await downloadFile(destination, {
      url: source.baseUrl + file.name,
      md5: file.md5,
      size: file.size,
      onProgress: onProgress?.(file.name),
    });
  }
}
