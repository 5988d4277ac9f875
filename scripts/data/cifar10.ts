/**
 * CIFAR-10 from the official binary archive: download, extract into a cache folder, load.
 *
 * Cache layout: `<dataDir>/cifar-10-binary.tar.gz` and the extracted
 * `<dataDir>/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin, batches.meta.txt`.
 *
 * @module
 */

import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { DatasetSplits, ImageDataset, Normalization } from "./dataset.ts";
import { downloadFile, fileMd5, NetworkError, type ProgressCallback } from "./download.ts";
import { readTar } from "./tar.ts";
import { writeFileAtomic } from "../../mod.ts";
import { pathExists } from "../lib/files.ts";

/**
 * The official archive: URL, MD5, size and file name.
 *
 * @example
 * ```ts
 * import { CIFAR10_ARCHIVE } from "./cifar10.ts";
 * console.log(CIFAR10_ARCHIVE.url);
 * ```
 */
export const CIFAR10_ARCHIVE: { url: string; md5: string; size: number; fileName: string } = {
  url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
  md5: "c32a1d4ab5d03f1284b67883e8d87530",
  size: 170052171,
  fileName: "cifar-10-binary.tar.gz",
};

/**
 * The usual CIFAR-10 channel statistics (torchvision examples, computed on the training set).
 *
 * @example
 * ```ts
 * import { CIFAR10_NORMALIZATION } from "./cifar10.ts";
 * console.log(CIFAR10_NORMALIZATION.std);
 * ```
 */
export const CIFAR10_NORMALIZATION: Normalization = {
  mean: [0.4914, 0.4822, 0.4465],
  std: [0.2470, 0.2435, 0.2616],
};

const FOLDER = "cifar-10-batches-bin";
const TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
const TEST_FILE = "test_batch.bin";
const META_FILE = "batches.meta.txt";
const SIDE = 32;
const RECORD = 1 + 3 * SIDE * SIDE;
const RECORDS_PER_BATCH = 10000;
const PREPARE_HINT = "deno task data --dataset cifar10";

/**
 * Options of the CIFAR-10 parsers.
 *
 * @example
 * ```ts
 * import type { Cifar10Options } from "./cifar10.ts";
 * const forTests: Cifar10Options = { recordsPerBatch: 3 };
 * ```
 */
export interface Cifar10Options {
  /** Records each batch file must hold: 10000 for the real data; tests use small fakes. */
  recordsPerBatch?: number;
}

/**
 * Options of {@linkcode downloadCifar10}; the URL, MD5 and size are injectable for tests.
 *
 * @example
 * ```ts
 * import type { DownloadCifar10Options } from "./cifar10.ts";
 * const options: DownloadCifar10Options = { onProgress: (done, total) => console.log(done / total) };
 * ```
 */
export interface DownloadCifar10Options {
  /** Progress callback (bytes done, bytes total). */
  onProgress?: ProgressCallback;
  /** Archive URL (default: the official one). */
  url?: string;
  /** Expected MD5 (default: the official one). */
  md5?: string;
  /** Expected size in bytes (default: the official one). */
  size?: number;
}

/**
 * The default cache folder: `$XDG_CACHE_HOME/epsanet-deno`, else `~/Library/Caches/epsanet-deno` on
 * macOS, `%LOCALAPPDATA%\epsanet-deno` on Windows, `~/.cache/epsanet-deno` elsewhere. Needs
 * `--allow-env`.
 *
 * @returns The folder path (not created).
 * @example
 * ```ts
 * import { defaultDataDir } from "./cifar10.ts";
 * console.log(defaultDataDir());
 * ```
 */
export function defaultDataDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "epsanet-deno");
  const home = Deno.env.get("HOME");
  if (Deno.build.os === "windows") {
    const local = Deno.env.get("LOCALAPPDATA");
    if (local) return join(local, "epsanet-deno");
  } else if (home) {
    return join(home, Deno.build.os === "darwin" ? "Library/Caches" : ".cache", "epsanet-deno");
  }
  throw new Error("Cannot find a cache folder: set XDG_CACHE_HOME or HOME, or pass --data-dir");
}

/**
 * Parses one CIFAR-10 batch file: records of 1 label byte + 3072 pixel bytes (CHW, 32x32).
 *
 * @param bytes The file contents.
 * @param source Where the bytes came from, for error messages.
 * @param remedy What the user should do when the bytes are bad, appended to error messages.
 * @param options `recordsPerBatch` (10000 unless a test says otherwise).
 * @returns Fresh arrays of pixels (N*3*32*32) and labels (N).
 * @example
 * ```ts
 * import { parseCifarBatch } from "./cifar10.ts";
 * const record = new Uint8Array(3073);
 * record[0] = 7;
 * const { labels } = parseCifarBatch(record, "one.bin", "make it again", { recordsPerBatch: 1 });
 * console.log(labels[0]); // 7
 * ```
 */
export function parseCifarBatch(
  bytes: Uint8Array,
  source: string,
  remedy: string,
  options: Cifar10Options = {},
): { images: Uint8Array; labels: Uint8Array } {
  const records = options.recordsPerBatch ?? RECORDS_PER_BATCH;
  if (bytes.length !== records * RECORD) {
    throw new Error(
      `${source} has ${bytes.length} bytes, expected ${records * RECORD} ` +
        `(${records} records of ${RECORD} bytes); ${remedy}`,
    );
  }
  const images = new Uint8Array(records * (RECORD - 1));
  const labels = new Uint8Array(records);
  for (let i = 0; i < records; i++) {
    labels[i] = bytes[i * RECORD];
    if (labels[i] > 9) {
      throw new Error(`${source} record ${i} has label ${labels[i]}, expected 0..9; ${remedy}`);
    }
    images.set(bytes.subarray(i * RECORD + 1, (i + 1) * RECORD), i * (RECORD - 1));
  }
  return { images, labels };
}

/**
 * Downloads the CIFAR-10 archive into `dataDir` (resuming a partial download, verifying the MD5),
 * unless a verified copy is already there.
 *
 * @param dataDir Cache folder (created when missing).
 * @param options Progress callback; URL, MD5 and size overrides for tests.
 * @returns The archive path.
 * @example
 * ```ts ignore
 * import { defaultDataDir, downloadCifar10 } from "./cifar10.ts";
 * await downloadCifar10(defaultDataDir(), { onProgress: (done, total) => console.log(done / total) });
 * ```
 */
export async function downloadCifar10(
  dataDir: string,
  options: DownloadCifar10Options = {},
): Promise<string> {
  const url = options.url ?? CIFAR10_ARCHIVE.url;
  const md5 = options.md5 ?? CIFAR10_ARCHIVE.md5;
  const archive = join(dataDir, CIFAR10_ARCHIVE.fileName);
  if (await pathExists(archive)) {
    const actual = await fileMd5(archive);
    if (actual === md5) return archive;
    throw new Error(`${archive} has MD5 ${actual}, expected ${md5}; delete it and run ${PREPARE_HINT} again`);
  }
  await Deno.mkdir(dataDir, { recursive: true });
  try {
    return await downloadFile(archive, {
      url,
      md5,
      size: options.size ?? CIFAR10_ARCHIVE.size,
      onProgress: options.onProgress,
    });
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    throw new Error(
      `${error.message}; download ${url} manually to ${archive} and run ${PREPARE_HINT} again, ` +
        `or use --dataset digits, which works offline`,
      { cause: error },
    );
  }
}

/**
 * Extracts the six batch files and the class names from the archive into
 * `<dataDir>/cifar-10-batches-bin`. Everything is validated before anything is written, and each
 * file is written to a temporary name and renamed, so a bad archive leaves no cache file behind.
 *
 * @param archive Path of `cifar-10-binary.tar.gz`.
 * @param dataDir Cache folder.
 * @param options `recordsPerBatch` (tests only).
 * @returns The folder holding the extracted files.
 * @example
 * ```ts ignore
 * import { defaultDataDir, extractCifar10 } from "./cifar10.ts";
 * await extractCifar10(`${defaultDataDir()}/cifar-10-binary.tar.gz`, defaultDataDir());
 * ```
 */
export async function extractCifar10(
  archive: string,
  dataDir: string,
  options: Cifar10Options = {},
): Promise<string> {
  const remedy = `delete ${archive} and run ${PREPARE_HINT} again`;
  let compressed: Uint8Array;
  try {
    compressed = await Deno.readFile(archive);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Error(`${archive} does not exist; run ${PREPARE_HINT} to download it`);
  }
  let tar: Uint8Array;
  try {
    tar = gunzipSync(compressed);
  } catch (error) {
    throw new Error(`${archive} is not a valid gzip file (${(error as Error).message}); ${remedy}`);
  }
  const files = new Map<string, Uint8Array>();
  for (const entry of readTar(tar, archive)) {
    // Accept "./cifar-10-batches-bin/..." too, as `tar -C dir .` writes it.
    const [folder, name, ...rest] = entry.name.replace(/^(\.\/)+/, "").split("/");
    if (folder === FOLDER && name && rest.length === 0) files.set(name, entry.data);
  }
  for (const name of [...TRAIN_FILES, TEST_FILE, META_FILE]) {
    const data = files.get(name);
    if (!data) throw new Error(`${archive} has no ${FOLDER}/${name}; ${remedy}`);
    if (name === META_FILE) parseClassNames(data, `${FOLDER}/${name} in ${archive}`, remedy);
    else parseCifarBatch(data, `${FOLDER}/${name} in ${archive}`, remedy, options);
  }
  const folder = join(dataDir, FOLDER);
  await Deno.mkdir(folder, { recursive: true });
  for (const name of [...TRAIN_FILES, TEST_FILE, META_FILE]) {
    await writeFileAtomic(join(folder, name), files.get(name)!);
  }
  return folder;
}

/**
 * Loads the extracted CIFAR-10 splits from the cache (see {@linkcode prepareCifar10}).
 *
 * @param dataDir Cache folder.
 * @param options `recordsPerBatch` (tests only).
 * @returns Train (50000) and test (10000) splits, 3x32x32, with the archive's class names.
 * @example
 * ```ts ignore
 * import { defaultDataDir, loadCifar10 } from "./cifar10.ts";
 * const { train, test } = await loadCifar10(defaultDataDir());
 * ```
 */
export async function loadCifar10(dataDir: string, options: Cifar10Options = {}): Promise<DatasetSplits> {
  const folder = join(dataDir, FOLDER);
  const read = async (name: string): Promise<Uint8Array> => {
    try {
      return await Deno.readFile(join(folder, name));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new Error(
        `CIFAR-10 is not prepared in ${dataDir} (no ${FOLDER}/${name}); run ${PREPARE_HINT} first ` +
          `(with --data-dir ${dataDir} if that is not the default), or use --dataset digits, which needs no download`,
      );
    }
  };
  const remedy = `delete it and run ${PREPARE_HINT} again`;
  const classes = parseClassNames(await read(META_FILE), join(folder, META_FILE), remedy);
  const parse = async (name: string) => parseCifarBatch(await read(name), join(folder, name), remedy, options);
  const split = (parts: { images: Uint8Array; labels: Uint8Array }[]): ImageDataset => {
    const images = new Uint8Array(parts.reduce((n, p) => n + p.images.length, 0));
    const labels = new Uint8Array(parts.reduce((n, p) => n + p.labels.length, 0));
    let offset = 0;
    for (const part of parts) {
      images.set(part.images, offset * (RECORD - 1));
      labels.set(part.labels, offset);
      offset += part.labels.length;
    }
    return {
      name: "cifar10",
      images,
      labels,
      count: labels.length,
      channels: 3,
      height: SIDE,
      width: SIDE,
      classes,
    };
  };
  const train = [];
  for (const name of TRAIN_FILES) train.push(await parse(name));
  return { train: split(train), test: split([await parse(TEST_FILE)]) };
}

/**
 * Makes CIFAR-10 ready and loads it: uses the cache when it is complete, else extracts the archive,
 * downloading it first when it is missing.
 *
 * @param dataDir Cache folder.
 * @param options Download options, `recordsPerBatch` (tests), and `log` for one-line status messages.
 * @returns The loaded splits.
 * @example
 * ```ts ignore
 * import { defaultDataDir, prepareCifar10 } from "./cifar10.ts";
 * const { train } = await prepareCifar10(defaultDataDir(), { log: console.log });
 * ```
 */
export async function prepareCifar10(
  dataDir: string,
  options: DownloadCifar10Options & Cifar10Options & { log?: (line: string) => void } = {},
): Promise<DatasetSplits> {
  try {
    return await loadCifar10(dataDir, options);
  } catch (error) {
    options.log?.(`Preparing the cache: ${(error as Error).message.split(";")[0]}`);
  }
  const archive = await downloadCifar10(dataDir, options);
  options.log?.(`Extracting ${archive}`);
  await extractCifar10(archive, dataDir, options);
  return await loadCifar10(dataDir, options);
}

/** Class names, one a line; exactly ten. */
function parseClassNames(bytes: Uint8Array, source: string, remedy: string): string[] {
  const names = new TextDecoder().decode(bytes).split(/\r?\n/).map((s) => s.trim()).filter((s) => s);
  if (names.length !== 10) {
    throw new Error(`${source} lists ${names.length} class names, expected 10; ${remedy}`);
  }
  return names;
}
