/**
 * A caching allocator for device memory: a training step allocates the same sizes every time, so
 * freed blocks go to free lists and the next request of the same size class reuses them. The
 * driver is only asked for memory on a miss.
 *
 * Policy:
 * - Size classes: requests round up to a multiple of 512 B below 1 MiB, of 128 KiB below 32 MiB,
 *   and of 2 MiB above (at most 12.5% waste, and 2 MiB is the driver's large-page size). Zero-byte
 *   requests get 512 B.
 * - One free list per size class; a request reuses a block of exactly its class (no splitting),
 *   most recently freed first (it is likelier to be in L2).
 * - On out-of-memory the allocator waits for the device, releases every cached block and retries
 *   once; then it throws with the numbers needed to act on it.
 * - Safe with one stream: a freed block can be handed out at once, because every kernel that used
 *   it was queued earlier on the same stream. Releasing blocks to the driver waits for the stream
 *   first.
 *
 * @module
 */

/** What the allocator needs from a device. */
export interface MemoryBackend {
  /** Allocates `bytes` (a bigint, for the fast FFI path); returns null when the device is out of memory. */
  malloc(bytes: bigint): bigint | null;
  /** Releases a block obtained from `malloc`. */
  free(ptr: bigint): void;
  /** Waits for all queued work (before memory is released to the driver). */
  synchronize(): void;
}

/** A block handed out by the allocator. */
export interface Block {
  /** Device address. */
  readonly ptr: bigint;
  /** Size of the block in bytes (the request rounded up to its size class). */
  readonly size: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The size class of a request: the bytes actually reserved for it.
 *
 * @param bytes Requested bytes.
 * @returns Rounded bytes.
 * @example
 * ```ts
 * import { sizeClass } from "./allocator.ts";
 * sizeClass(1); // 512
 * sizeClass(3 * 1024 * 1024 + 1); // 3.125 MiB: rounded to 128 KiB
 * ```
 */
export function sizeClass(bytes: number): number {
  const granule = bytes < MiB ? 512 : bytes < 32 * MiB ? 128 * KiB : 2 * MiB;
  return Math.max(granule, Math.ceil(bytes / granule) * granule);
}

/**
 * The caching allocator.
 *
 * @example
 * ```ts
 * import { CachingAllocator } from "./allocator.ts";
 * let next = 0n;
 * const allocator = new CachingAllocator({
 *   malloc: (bytes) => (next += bytes),
 *   free: () => {},
 *   synchronize: () => {},
 * });
 * const block = allocator.alloc(100);
 * allocator.free(block);
 * allocator.alloc(200); // the same block: both round to 512 B
 * ```
 */
export class CachingAllocator {
  #backend: MemoryBackend;
  #free = new Map<number, bigint[]>();
  #live = new Map<bigint, number>();
  #allocated = 0;
  #reserved = 0;
  #peak = 0;

  /**
   * An empty allocator over a device's allocation functions.
   *
   * @param backend The device's allocation functions.
   */
  constructor(backend: MemoryBackend) {
    this.#backend = backend;
  }

  /** Bytes in blocks handed out and not yet freed. */
  get allocatedBytes(): number {
    return this.#allocated;
  }

  /** Bytes obtained from the driver: live blocks plus cached ones. */
  get reservedBytes(): number {
    return this.#reserved;
  }

  /** Highest `allocatedBytes` since construction or the last {@linkcode resetPeak}. */
  get peakAllocatedBytes(): number {
    return this.#peak;
  }

  /**
   * A block of at least `bytes` bytes.
   *
   * @param bytes Requested size.
   * @returns The block.
   * @throws When the device is out of memory even with the cache released.
   */
  alloc(bytes: number): Block {
    const size = sizeClass(bytes);
    const ptr = this.#free.get(size)?.pop() ?? this.#fresh(size);
    this.#live.set(ptr, size);
    this.#allocated += size;
    this.#peak = Math.max(this.#peak, this.#allocated);
    return { ptr, size };
  }

  /**
   * Returns a block to its free list.
   *
   * @param block A block from {@linkcode alloc}, freed once.
   * @throws When the block is not live (a double free).
   */
  free(block: Block): void {
    const size = this.#live.get(block.ptr);
    if (size === undefined) {
      throw new Error(`free(): device address 0x${block.ptr.toString(16)} is not a live allocation`);
    }
    this.#live.delete(block.ptr);
    this.#allocated -= size;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push(block.ptr);
  }

  /** Releases every cached block to the driver (waits for the device first). */
  emptyCache(): void {
    if (this.#free.size === 0) return;
    this.#backend.synchronize();
    for (const [size, ptrs] of this.#free) {
      for (const ptr of ptrs) {
        this.#backend.free(ptr);
        this.#reserved -= size;
      }
    }
    this.#free.clear();
  }

  /** Resets the peak to the current allocation. */
  resetPeak(): void {
    this.#peak = this.#allocated;
  }

  #fresh(size: number): bigint {
    let ptr = this.#backend.malloc(BigInt(size));
    if (ptr === null) {
      this.emptyCache();
      ptr = this.#backend.malloc(BigInt(size));
    }
    if (ptr === null) {
      throw new Error(
        `CUDA out of memory: cannot allocate ${mib(size)} with ${mib(this.#allocated)} in use; ` +
          `reduce the batch size or dispose tensors sooner`,
      );
    }
    this.#reserved += size;
    return ptr;
  }
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
