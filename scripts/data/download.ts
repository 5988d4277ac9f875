/**
 * Resumable HTTP download with MD5 verification and an atomic rename into place.
 *
 * @module
 */

import { createHash } from "node:crypto";

/**
 * Called as bytes arrive.
 *
 * @example
 * ```ts
 * import type { ProgressCallback } from "./download.ts";
 * const log: ProgressCallback = (done, total) => console.log(`${done}/${total}`);
 * ```
 */
export type ProgressCallback = (doneBytes: number, totalBytes: number) => void;

/**
 * What to download and how to check it.
 *
 * @example
 * ```ts
 * import type { DownloadOptions } from "./download.ts";
 * const options: DownloadOptions = { url: "https://example.com/a.bin", md5: "0".repeat(32), size: 10 };
 * ```
 */
export interface DownloadOptions {
  /** Source URL. */
  url: string;
  /** Expected MD5 of the whole file, lowercase hex. */
  md5: string;
  /** Expected size in bytes. */
  size: number;
  /** Progress callback. */
  onProgress?: ProgressCallback;
}

/**
 * Downloads `options.url` to `destination`. Bytes go to `<destination>.part`; an existing partial
 * file is resumed with an HTTP Range request. The download starts over when the server ignores the
 * range, when the partial file is larger than expected, or when a resumed file fails the checksum
 * (the old part was corrupt). Only a file with the expected size and MD5 is renamed to
 * `destination`; a fresh download that fails the check is deleted.
 *
 * An interrupted transfer keeps its `.part` file so the next call resumes it.
 *
 * @param destination Final path of the file.
 * @param options URL, expected MD5 and size, progress callback.
 * @returns The destination path.
 * @example
 * ```ts ignore
 * import { downloadFile } from "./download.ts";
 * await downloadFile("/tmp/a.bin", { url: "https://example.com/a.bin", md5: "...", size: 10 });
 * ```
 */
export async function downloadFile(destination: string, options: DownloadOptions): Promise<string> {
  const part = `${destination}.part`;
  for (let attempt = 0;; attempt++) {
    let offset = await fileSize(part);
    if (offset > options.size) {
      await Deno.remove(part);
      offset = 0;
    }
    const resumed = offset > 0;
    if (offset < options.size) await fetchInto(part, offset, options);
    const size = await fileSize(part);
    if (size < options.size) {
      throw new Error(
        `Download of ${options.url} stopped after ${size} of ${options.size} bytes; run the command again to resume`,
      );
    }
    const problem = size > options.size
      ? `${size} bytes, expected ${options.size}`
      : await fileMd5(part).then((md5) => md5 === options.md5 ? "" : `MD5 ${md5}, expected ${options.md5}`);
    if (!problem) {
      await Deno.rename(part, destination);
      return destination;
    }
    await Deno.remove(part);
    if (!resumed || attempt > 0) {
      throw new Error(
        `Download of ${options.url} has ${problem}; the file was deleted, ` +
          `run the command again or download it manually to ${destination}`,
      );
    }
  }
}

/** Appends the bytes from `offset` on to `part` (or rewrites it when the server ignores Range). */
async function fetchInto(part: string, offset: number, options: DownloadOptions): Promise<void> {
  let response: Response;
  try {
    response = await fetch(options.url, { headers: offset > 0 ? { range: `bytes=${offset}-` } : {} });
  } catch (error) {
    throw new NetworkError(options.url, error);
  }
  if (offset > 0 && !isRangeFrom(response, offset)) {
    if (response.status === 416) {
      // The server cannot continue this part: it is stale, so start over.
      await response.body?.cancel();
      await Deno.remove(part);
      return fetchInto(part, 0, options);
    }
    offset = 0;
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`Download of ${options.url} failed: HTTP ${response.status} ${response.statusText}`);
  }
  const file = await Deno.open(part, {
    write: true,
    create: true,
    append: offset > 0,
    truncate: offset === 0,
  });
  let done = offset;
  try {
    options.onProgress?.(done, options.size);
    for await (const chunk of response.body) {
      for (let written = 0; written < chunk.length;) written += await file.write(chunk.subarray(written));
      done += chunk.length;
      options.onProgress?.(done, options.size);
    }
  } catch (error) {
    throw new Error(
      `Download of ${options.url} stopped after ${done} of ${options.size} bytes ` +
        `(${error instanceof Error ? error.message : error}); run the command again to resume`,
    );
  } finally {
    file.close();
  }
}

/** Whether the response is a 206 whose Content-Range starts at `offset`. */
function isRangeFrom(response: Response, offset: number): boolean {
  const range = response.headers.get("content-range") ?? "";
  return response.status === 206 && new RegExp(`^bytes ${offset}-`).test(range);
}

/**
 * Raised when the server cannot be reached at all (as opposed to an HTTP error or a bad file).
 *
 * @example
 * ```ts
 * import { NetworkError } from "./download.ts";
 * const error = new NetworkError("http://127.0.0.1:9/x", new TypeError("refused"));
 * console.log(error.message);
 * ```
 */
export class NetworkError extends Error {
  /**
   * Wraps the error `fetch` threw.
   *
   * @param url The URL that could not be fetched.
   * @param cause The error fetch threw.
   */
  constructor(url: string, cause: unknown) {
    super(`Cannot reach ${url} (${cause instanceof Error ? cause.message : cause})`, { cause });
    this.name = "NetworkError";
  }
}

/**
 * MD5 of a file, read in chunks.
 *
 * @param path File to hash.
 * @returns Lowercase hex digest.
 * @example
 * ```ts ignore
 * import { fileMd5 } from "./download.ts";
 * console.log(await fileMd5("/etc/hostname"));
 * ```
 */
export async function fileMd5(path: string): Promise<string> {
  const hash = createHash("md5");
  const file = await Deno.open(path);
  try {
    const buffer = new Uint8Array(1 << 20);
    for (let n = await file.read(buffer); n !== null; n = await file.read(buffer)) {
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    file.close();
  }
  return hash.digest("hex");
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}
