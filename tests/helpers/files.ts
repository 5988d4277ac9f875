/**
 * Temporary folders for tests, and a safetensors header reader for tests that inspect files
 * byte by byte.
 *
 * @module
 */

/**
 * Runs `fn` with a fresh temporary folder, removed afterwards.
 *
 * @param fn The work.
 */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "epsanet-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A temporary folder shared by one test file's tests, made on first use (so tests without
 * permissions never touch the disk) and removed when the file's tests end.
 *
 * @param prefix Folder name prefix, e.g. "train_test_".
 * @returns A function that makes the folder once and returns its path.
 */
export function lazyTempDir(prefix: string): () => string {
  let dir: string | undefined;
  globalThis.addEventListener("unload", () => {
    try {
      if (dir) Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone, or no write permission: nothing to clean
    }
  });
  return () => dir ??= Deno.makeTempDirSync({ prefix });
}

/** A safetensors header: tensor entries (dtype, shape, data_offsets) and `__metadata__`. */
export type SafetensorsHeader = Record<string, Record<string, unknown>>;

/**
 * The header of safetensors `bytes`, its length, and where the data section starts.
 *
 * @param bytes A whole safetensors file.
 * @returns `{ header, headerLength, dataStart }`.
 */
export function readSafetensorsHeader(
  bytes: Uint8Array,
): { header: SafetensorsHeader; headerLength: number; dataStart: number } {
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  return { header, headerLength, dataStart: 8 + headerLength };
}
