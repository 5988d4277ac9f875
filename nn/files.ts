/**
 * Atomic file writes, for checkpoints and run files: the data goes to a temporary file in the same
 * folder, is synced, and is then renamed over the target, so a reader (or a crash) never sees a
 * half-written file and a failed write leaves the previous file as it was.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${crypto.randomUUID().slice(0, 8)}`);
}

async function replaceWith(path: string, fill: (temp: string) => Promise<void>): Promise<void> {
  const temp = tempPathFor(path);
  try {
    await fill(temp);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {}); // it may never have been created
    throw new Error(`Cannot write ${path}: ${error instanceof Error ? error.message : error}`, {
      cause: error,
    });
  }
}

/**
 * Writes bytes or text to `path` atomically; an existing file is replaced only once the new one is
 * complete on disk.
 *
 * @param path The file.
 * @param data Bytes, or text written as UTF-8.
 * @returns Once the file is in place.
 * @throws An Error naming `path` when the folder is missing or not writable.
 * @example
 * ```ts
 * import { writeFileAtomic } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/config.json`, JSON.stringify({ epochs: 2 }));
 * ```
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return replaceWith(path, async (temp) => {
    const file = await Deno.open(temp, { write: true, createNew: true });
    try {
      for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
      await file.sync(); // the data must be on disk before the rename makes it visible
    } finally {
      file.close();
    }
  });
}

/**
 * Copies `source` to `target` atomically (a copy in the same folder as `target`, then a rename).
 *
 * @param source The file to copy.
 * @param target Where the copy goes.
 * @returns Once the copy is in place.
 * @throws An Error naming `target` when the copy fails.
 * @example
 * ```ts
 * import { copyFileAtomic, writeFileAtomic } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/last.txt`, "1");
 * await copyFileAtomic(`${dir}/last.txt`, `${dir}/best.txt`);
 * ```
 */
export function copyFileAtomic(source: string, target: string): Promise<void> {
  return replaceWith(target, async (temp) => {
    await Deno.copyFile(source, temp);
    const file = await Deno.open(temp, { write: true });
    try {
      await file.sync();
    } finally {
      file.close();
    }
  });
}
