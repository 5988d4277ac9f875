/**
 * A minimal reader for ustar / GNU tar archives held in memory: 512-byte blocks, header checksums
 * validated, regular files returned as views into the archive bytes (no copies).
 *
 * @module
 */

const BLOCK = 512;

/**
 * One regular file of a tar archive.
 *
 * @example
 * ```ts
 * import type { TarEntry } from "./tar.ts";
 * const describe = (e: TarEntry): string => `${e.name}: ${e.data.length} bytes`;
 * ```
 */
export interface TarEntry {
  /** Path inside the archive (ustar prefix joined with the name). */
  name: string;
  /** File contents, a view into the archive bytes. */
  data: Uint8Array;
}

/**
 * Lists the regular files of an uncompressed tar archive. Directories, links and extended headers
 * (pax, GNU long names) are skipped; the archive ends at the first all-zero block or at its last byte, if that ends an entry.
 *
 * @param bytes The archive (already gunzipped).
 * @param source Name of the archive, for error messages.
 * @returns The regular files, in archive order.
 * @example
 * ```ts
 * import { readTar } from "./tar.ts";
 * const files = readTar(new Uint8Array(1024), "empty.tar");
 * console.log(files.length); // 0
 * ```
 */
export function readTar(bytes: Uint8Array, source: string): TarEntry[] {
  const entries: TarEntry[] = [];
  const decoder = new TextDecoder();
  const text = (header: Uint8Array, start: number, length: number): string => {
    const field = header.subarray(start, start + length);
    const end = field.indexOf(0);
    return decoder.decode(end < 0 ? field : field.subarray(0, end));
  };
  // A plain view, so that entries are Uint8Arrays even when `bytes` is a node Buffer.
  bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let offset = 0; offset < bytes.length;) {
    if (offset + BLOCK > bytes.length) {
      throw new Error(
        `${source} is truncated: it ends inside the header at byte ${offset}; delete it and download it again`,
      );
    }
    const header = bytes.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    const stored = parseOctal(header.subarray(148, 156));
    if (stored !== headerChecksum(header)) {
      throw new Error(
        `${source} has a corrupt tar header at byte ${offset} (checksum ${stored}, computed ${
          headerChecksum(header)
        }); delete it and download it again`,
      );
    }
    const size = parseOctal(header.subarray(124, 136));
    const type = String.fromCharCode(header[156]);
    const prefix = text(header, 257, 6).startsWith("ustar") ? text(header, 345, 155) : "";
    const name = prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100);
    const start = offset + BLOCK;
    if (Number.isNaN(size) || start + size > bytes.length) {
      throw new Error(
        `${source} is truncated: ${name} needs ${size} bytes at byte ${start} but the archive has ${bytes.length}; ` +
          `delete it and download it again`,
      );
    }
    if (type === "0" || type === "\0") entries.push({ name, data: bytes.subarray(start, start + size) });
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return entries;
}

/** Sum of the header bytes with the checksum field counted as eight spaces. */
function headerChecksum(header: Uint8Array): number {
  let sum = 8 * 32;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += header[i];
  return sum;
}

/** An octal number field, NUL- or space-terminated; NaN when malformed. */
function parseOctal(field: Uint8Array): number {
  let value = 0;
  let digits = 0;
  for (const byte of field) {
    if (byte === 0 || byte === 32) {
      if (digits > 0) break;
      continue;
    }
    if (byte < 48 || byte > 55) return NaN;
    value = value * 8 + (byte - 48);
    digits++;
  }
  return digits > 0 ? value : NaN;
}
