/**
 * A small reader of zip archives, enough for the files `torch.save` writes (PyTorch >= 1.6): stored
 * or deflated entries, zip64 sizes and offsets, CRC-32 checked on every read. Every offset and size
 * is checked against the archive before anything is sliced or allocated, so a damaged archive gives
 * a one-line Error, never a huge allocation.
 *
 * @example
 * ```ts
 * import { openZip } from "./zip.ts";
 * const bytes = await Deno.readFile("model.pth");
 * const zip = openZip(bytes, "model.pth");
 * const pickle = zip.read([...zip.names()].find((n) => n.endsWith("/data.pkl"))!);
 * ```
 *
 * @module
 */

import { crc32, inflateRawSync } from "node:zlib";

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY = 0x06064b50;
const CENTRAL_DIRECTORY_ENTRY = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;
const ZIP64_EXTRA_FIELD = 0x0001;
const STORED = 0;
const DEFLATED = 8;
/** The end record is 22 bytes, followed by a comment of at most 65,535 bytes. */
const END_RECORD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** The most a deflate stream can expand (258-byte matches in 2 bits, rounded up). */
const MAX_DEFLATE_RATIO = 1032;
/** Bytes of a central directory entry before its name. */
const CENTRAL_ENTRY_SIZE = 46;

/** One file of the archive, as its central directory describes it. */
export interface ZipEntry {
  /** Path inside the archive. */
  name: string;
  /** 0 (stored) or 8 (deflated). */
  method: number;
  /** Bytes in the archive. */
  compressedSize: number;
  /** Bytes once extracted. */
  size: number;
  /** CRC-32 of the extracted bytes. */
  crc32: number;
  /** Where the entry's local header starts. */
  localHeaderOffset: number;
}

/** An opened archive: its entries by name, and a checked reader. */
export interface ZipArchive {
  /** Names of the entries, in central-directory order. */
  names(): IterableIterator<string>;
  /** The entry of `name`, or undefined. */
  entry(name: string): ZipEntry | undefined;
  /** The extracted bytes of `name`, CRC-checked; throws a one-line Error when absent or damaged. */
  read(name: string): Uint8Array;
}

/**
 * Tells whether `bytes` start like a zip archive (a local file header).
 *
 * @param bytes The file, or its first bytes.
 * @returns True for "PK\x03\x04".
 * @example
 * ```ts
 * import { looksLikeZip } from "./zip.ts";
 * looksLikeZip(new Uint8Array([0x50, 0x4b, 3, 4])); // true
 * ```
 */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === LOCAL_HEADER;
}

/** Reads little-endian fields, failing with a named problem instead of a RangeError. */
class Fields {
  readonly #view: DataView;
  readonly #fail: (problem: string) => never;

  /**
   * @param bytes The archive.
   * @param fail Throws the archive's one-line Error.
   */
  constructor(bytes: Uint8Array, fail: (problem: string) => never) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#fail = fail;
  }

  #check(at: number, size: number, what: string): void {
    if (at < 0 || at + size > this.#view.byteLength) {
      this.#fail(`${what} at byte ${at} runs past the end of the ${this.#view.byteLength}-byte archive (truncated?)`);
    }
  }

  u16(at: number, what: string): number {
    this.#check(at, 2, what);
    return this.#view.getUint16(at, true);
  }

  u32(at: number, what: string): number {
    this.#check(at, 4, what);
    return this.#view.getUint32(at, true);
  }

  u64(at: number, what: string): number {
    this.#check(at, 8, what);
    const value = this.#view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.#fail(`${what} at byte ${at} holds ${value}, which is too large`);
    return Number(value);
  }
}

function findEndRecord(bytes: Uint8Array, fields: Fields, fail: (problem: string) => never): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const last = bytes.length - END_RECORD_SIZE;
  for (let at = last; at >= 0 && at >= last - MAX_COMMENT; at--) {
    if (
      view.getUint32(at, true) === END_OF_CENTRAL_DIRECTORY &&
      at + END_RECORD_SIZE + fields.u16(at + 20, "") <= bytes.length
    ) {
      return at;
    }
  }
  return fail("no end-of-central-directory record (truncated or not a zip archive)");
}

interface Directory {
  count: number;
  offset: number;
  size: number;
}

function readDirectoryLocation(fields: Fields, end: number, fail: (problem: string) => never): Directory {
  let count = fields.u16(end + 10, "entry count");
  let size = fields.u32(end + 12, "central directory size");
  let offset = fields.u32(end + 16, "central directory offset");
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const locator = end - 20;
    if (locator < 0 || fields.u32(locator, "zip64 locator") !== ZIP64_LOCATOR) fail("zip64 locator is missing");
    const record = fields.u64(locator + 8, "zip64 end record offset");
    if (fields.u32(record, "zip64 end record") !== ZIP64_END_OF_CENTRAL_DIRECTORY) fail("zip64 end record is missing");
    count = fields.u64(record + 32, "zip64 entry count");
    size = fields.u64(record + 40, "zip64 central directory size");
    offset = fields.u64(record + 48, "zip64 central directory offset");
  }
  if (offset + size > end) fail(`central directory [${offset}, ${offset + size}) overlaps its end record at ${end}`);
  if (count * CENTRAL_ENTRY_SIZE > size) fail(`${count} entries cannot fit in a ${size}-byte central directory`);
  return { count, offset, size };
}

/** Applies the zip64 extra field: 64-bit values replace the 32-bit fields that hold 0xffffffff. */
function applyZip64Extra(entry: ZipEntry, fields: Fields, extraStart: number, extraEnd: number): void {
  for (let at = extraStart; at + 4 <= extraEnd;) {
    const id = fields.u16(at, "extra field id");
    const length = fields.u16(at + 2, "extra field length");
    if (id === ZIP64_EXTRA_FIELD) {
      let next = at + 4;
      const take = (): number => {
        const value = next + 8 <= at + 4 + length ? fields.u64(next, "zip64 extra value") : 0xffffffff;
        next += 8;
        return value;
      };
      if (entry.size === 0xffffffff) entry.size = take();
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = take();
      if (entry.localHeaderOffset === 0xffffffff) entry.localHeaderOffset = take();
    }
    at += 4 + length;
  }
}

function readEntries(bytes: Uint8Array, fields: Fields, fail: (problem: string) => never): Map<string, ZipEntry> {
  const end = findEndRecord(bytes, fields, fail);
  const directory = readDirectoryLocation(fields, end, fail);
  const entries = new Map<string, ZipEntry>();
  const names = new TextDecoder();
  let at = directory.offset;
  for (let i = 0; i < directory.count; i++) {
    if (fields.u32(at, "central directory entry") !== CENTRAL_DIRECTORY_ENTRY) {
      fail(`central directory entry ${i} at byte ${at} has a bad signature`);
    }
    const nameLength = fields.u16(at + 28, "name length");
    const extraLength = fields.u16(at + 30, "extra length");
    const commentLength = fields.u16(at + 32, "comment length");
    const next = at + CENTRAL_ENTRY_SIZE + nameLength + extraLength + commentLength;
    if (next > directory.offset + directory.size) fail(`central directory entry ${i} runs past the directory`);
    const entry: ZipEntry = {
      name: names.decode(bytes.subarray(at + CENTRAL_ENTRY_SIZE, at + CENTRAL_ENTRY_SIZE + nameLength)),
      method: fields.u16(at + 10, "method"),
      crc32: fields.u32(at + 16, "CRC-32"),
      compressedSize: fields.u32(at + 20, "compressed size"),
      size: fields.u32(at + 24, "size"),
      localHeaderOffset: fields.u32(at + 42, "local header offset"),
    };
    const extraStart = at + CENTRAL_ENTRY_SIZE + nameLength;
    applyZip64Extra(entry, fields, extraStart, extraStart + extraLength);
    if (entries.has(entry.name)) fail(`entry "${entry.name}" appears twice`);
    entries.set(entry.name, entry);
    at = next;
  }
  return entries;
}

function extract(bytes: Uint8Array, fields: Fields, entry: ZipEntry, fail: (problem: string) => never): Uint8Array {
  const bad: (problem: string) => never = (problem) => fail(`entry "${entry.name}" ${problem}`);
  const local = entry.localHeaderOffset;
  if (fields.u32(local, `local header of "${entry.name}"`) !== LOCAL_HEADER) {
    bad(`has a bad local header at byte ${local}`);
  }
  const start = local + 30 + fields.u16(local + 26, "name length") + fields.u16(local + 28, "extra length");
  if (start + entry.compressedSize > bytes.length) {
    bad(`needs bytes [${start}, ${start + entry.compressedSize}) of a ${bytes.length}-byte archive (truncated?)`);
  }
  const raw = bytes.subarray(start, start + entry.compressedSize);
  let data: Uint8Array;
  if (entry.method === STORED) {
    if (entry.size !== entry.compressedSize) {
      bad(`is stored but its sizes differ (${entry.size} != ${entry.compressedSize})`);
    }
    data = raw;
  } else if (entry.method === DEFLATED) {
    // Deflate cannot expand more than ~1,032 times: a larger claim is a damaged (or hostile) entry.
    if (entry.size > entry.compressedSize * MAX_DEFLATE_RATIO) {
      bad(`claims ${entry.size} bytes from ${entry.compressedSize} compressed bytes, more than deflate can produce`);
    }
    try {
      data = entry.size === 0 ? new Uint8Array() : inflateRawSync(raw, { maxOutputLength: entry.size });
    } catch (error) {
      return bad(`cannot be inflated (${error instanceof Error ? error.message.split("\n")[0] : error})`);
    }
    if (data.length !== entry.size) bad(`inflates to ${data.length} bytes, but the directory says ${entry.size}`);
  } else {
    return bad(`uses compression method ${entry.method}; only stored (0) and deflated (8) are supported`);
  }
  const actual = crc32(data) >>> 0;
  if (actual !== entry.crc32) {
    bad(`fails its CRC-32 check (${actual.toString(16)} != ${entry.crc32.toString(16)}): the file is corrupt`);
  }
  return data;
}

/**
 * Opens a zip archive held in memory. The central directory is read and checked at once; entries
 * are extracted (and CRC-checked) when read.
 *
 * @param bytes The whole archive.
 * @param label The file's name, for error messages.
 * @returns The archive.
 * @throws A one-line Error naming `label` and the problem: no end record, truncated or overlapping
 *   directory, bad signatures, entries past the end, unsupported compression, CRC mismatch.
 * @example
 * ```ts
 * import { openZip } from "./zip.ts";
 * const zip = openZip(await Deno.readFile("model.pth"), "model.pth");
 * console.log([...zip.names()]);
 * ```
 */
export function openZip(bytes: Uint8Array, label: string): ZipArchive {
  const fail: (problem: string) => never = (problem) => {
    throw new Error(`Invalid zip archive ${label}: ${problem}`);
  };
  const fields = new Fields(bytes, fail);
  const entries = readEntries(bytes, fields, fail);
  return {
    names: () => entries.keys(),
    entry: (name) => entries.get(name),
    read(name: string): Uint8Array {
      const entry = entries.get(name);
      if (!entry) return fail(`has no entry "${name}"`);
      return extract(bytes, fields, entry, fail);
    },
  };
}
