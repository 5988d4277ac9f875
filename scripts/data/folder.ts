/**
 * Image folders with torchvision's `ImageFolder` semantics: `DIR/train/` and `DIR/val/` (or
 * `DIR/test/`), each with one sub-folder per class, classes sorted by name, files found
 * recursively in sorted order. JPEG and PNG files are decoded, converted to RGB as PIL does, and
 * stored as squares: training images Resize(side * 256 / 224) + CenterCrop of that side (the
 * training transform then takes RandomResizedCrop(side) of them each epoch), test images the
 * recipe's Resize(side * 256 / 224) + CenterCrop(side). Files that cannot be decoded are skipped and named
 * in one line per split.
 *
 * @module
 */

import { join, relative } from "node:path";
import type { DatasetSplits, ImageDataset } from "./dataset.ts";
import { decodeImage } from "./image_decode.ts";
import { resizeCenterCrop } from "./image_transforms.ts";

/** File name endings read as images (compared in lower case). */
const EXTENSIONS = [".jpg", ".jpeg", ".png"];

/**
 * Options of {@linkcode loadImageFolder}.
 *
 * @example
 * ```ts
 * import type { ImageFolderOptions } from "./folder.ts";
 * const options: ImageFolderOptions = { imageSize: 64, log: console.log };
 * ```
 */
export interface ImageFolderOptions {
  /** Side of the stored square images (default 224). */
  imageSize?: number;
  /** Where the skipped-files line goes (default `console.warn`). */
  log?: (line: string) => void;
}

/**
 * The classes of one split: its sub-folder names, sorted.
 *
 * @param splitDir A split folder, such as `DIR/train`.
 * @returns Class names.
 * @example
 * ```ts
 * import { folderClasses } from "./folder.ts";
 * console.log(folderClasses("photos/train")); // ["cat", "dog"]
 * ```
 */
export function folderClasses(splitDir: string): string[] {
  const names = [...Deno.readDirSync(splitDir)].filter((e) => e.isDirectory).map((e) => e.name);
  return names.sort();
}

/**
 * The image files of one class folder, recursively, in sorted order.
 *
 * @param classDir A class folder.
 * @returns File paths.
 * @example
 * ```ts
 * import { folderFiles } from "./folder.ts";
 * console.log(folderFiles("photos/train/cat").length);
 * ```
 */
export function folderFiles(classDir: string): string[] {
  const entries = [...Deno.readDirSync(classDir)].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(classDir, entry.name);
    if (entry.isDirectory) files.push(...folderFiles(path));
    else if (EXTENSIONS.some((ext) => entry.name.toLowerCase().endsWith(ext))) files.push(path);
  }
  return files;
}

/**
 * Loads `DIR/train` and `DIR/val` (or `DIR/test`) as in-memory datasets of `imageSize` squares.
 *
 * @param dir The folder holding the splits.
 * @param options Stored size and log.
 * @returns Train and test splits (the test split uses the train split's classes).
 * @example
 * ```ts
 * import { loadImageFolder } from "./folder.ts";
 * const { train, test } = await loadImageFolder("photos", { imageSize: 64 });
 * console.log(train.classes, test.count);
 * ```
 */
export async function loadImageFolder(dir: string, options: ImageFolderOptions = {}): Promise<DatasetSplits> {
  const side = options.imageSize ?? 224;
  const log = options.log ?? ((line: string) => console.warn(line));
  const trainDir = join(dir, "train");
  if (!isDirectory(trainDir)) {
    throw new Error(`${trainDir} is not a folder; --data-dir must hold train/ and val/ (or test/) class folders`);
  }
  const testDir = ["val", "test"].map((name) => join(dir, name)).find(isDirectory);
  if (!testDir) throw new Error(`${dir} holds no val/ or test/ folder; add one with the same class folders as train/`);
  const classes = folderClasses(trainDir);
  if (classes.length === 0) throw new Error(`${trainDir} has no class folders; put each class's images in its own`);
  if (classes.length > 256) throw new Error(`${trainDir} has ${classes.length} classes; at most 256 are supported`);
  const unknown = folderClasses(testDir).filter((name) => !classes.includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `${testDir} has classes that train/ lacks: ${unknown.join(", ")}; add them to train/ or remove them`,
    );
  }
  const resize = Math.round(side * 256 / 224);
  const train = await loadSplit(dir, trainDir, classes, resize, resize, log);
  const test = await loadSplit(dir, testDir, classes, resize, side, log);
  return { train, test };
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Decodes one split; undecodable files are counted, named in one line, and left out. */
async function loadSplit(
  root: string,
  splitDir: string,
  classes: string[],
  resize: number,
  side: number,
  log: (line: string) => void,
): Promise<ImageDataset> {
  const images: Uint8Array[] = [];
  const labels: number[] = [];
  const skipped: string[] = [];
  for (const [label, name] of classes.entries()) {
    const classDir = join(splitDir, name);
    if (!isDirectory(classDir)) continue; // a test split may lack a class
    for (const path of folderFiles(classDir)) {
      try {
        images.push(resizeCenterCrop(await decodeImage(Deno.readFileSync(path)), resize, side).pixels);
        labels.push(label);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        skipped.push(`${relative(root, path)} (${reason.split("\n")[0]})`);
      }
    }
  }
  if (skipped.length > 0) {
    log(
      `note: skipped ${skipped.length} file(s) in ${relative(root, splitDir)} that cannot be decoded: ${
        skipped.join("; ")
      }`,
    );
  }
  if (images.length === 0) throw new Error(`${splitDir} holds no decodable .jpg/.jpeg/.png images`);
  const pixels = new Uint8Array(images.length * 3 * side * side);
  images.forEach((image, i) => pixels.set(image, i * image.length));
  return {
    name: "folder",
    images: pixels,
    labels: Uint8Array.from(labels),
    count: images.length,
    channels: 3,
    height: side,
    width: side,
    classes,
  };
}
