/**
 * Host-to-device uploads through pinned (page-locked) staging memory.
 *
 * A copy from pageable JS memory makes the driver stage it through its own small pinned buffer
 * and return only once the source is consumed, so large uploads crawl. Uploads of at least
 * `threshold` bytes instead go through two pinned halves of `chunk` bytes each: the host copies
 * chunk i into half i % 2 and queues an async copy from there on the device's stream, so the host
 * fills one half while the DMA engine drains the other. An event recorded after each async copy
 * guards its half: before the host writes a half again it waits for that half's event, so a
 * queued copy never reads bytes the host has already overwritten. Small uploads keep the
 * pageable copy (one call, no extra host copy). When the driver refuses pinned memory, every
 * upload stays pageable.
 *
 * @module
 */

/** The driver calls staging needs; the real ones are in runtime.ts, tests pass fakes. */
export interface StagingBackend {
  /** Page-locked host memory of `bytes` (`cuMemHostAlloc`), or null when the driver refuses. */
  allocPinned(bytes: number): Uint8Array | null;
  /** Frees memory from `allocPinned` (`cuMemFreeHost`). */
  freePinned(memory: Uint8Array): void;
  /** A new event without timing (`cuEventCreate`). */
  createEvent(): bigint;
  /** Destroys an event (`cuEventDestroy_v2`). */
  destroyEvent(event: bigint): void;
  /** Records `event` on the stream, after everything queued so far (`cuEventRecord`). */
  record(event: bigint): void;
  /** Waits on the host until `event` has happened (`cuEventSynchronize`). */
  wait(event: bigint): void;
  /**
   * Queues `cuMemcpyHtoDAsync_v2(dst, src)` on the stream. From pinned memory the copy runs
   * later, reading `src` then; from pageable memory the driver has read `src` when it returns.
   */
  copy(dst: bigint, src: Uint8Array): void;
}

/** Upload sizes and staging chunks, in bytes. */
export interface StagingOptions {
  /** Uploads of at least this many bytes are staged (default 1 MiB). */
  threshold: number;
  /** Bytes per staging half (default 8 MiB; 16 MiB pinned in all). */
  chunk: number;
}

const MiB = 1 << 20;

/** One pinned half, and the event recorded after the last copy out of it (if `pending`). */
interface Half {
  memory: Uint8Array;
  event: bigint;
  pending: boolean;
}

/**
 * Uploads through a pinned double buffer, allocated at the first large upload.
 *
 * @example
 * ```ts
 * import { StagedUploads } from "./staging.ts";
 * // const uploads = new StagedUploads(backend);
 * // uploads.upload(devicePtr, new Uint8Array(values.buffer));
 * ```
 */
export class StagedUploads {
  #backend: StagingBackend;
  #options: StagingOptions;
  /** The whole pinned allocation; the halves are views of it. */
  #pinned: Uint8Array | null = null;
  #halves: Half[] | null = null;
  #unavailable = false;
  #next = 0;

  /**
   * Nothing allocated yet.
   *
   * @param backend The driver calls.
   * @param options Threshold and chunk size in bytes.
   */
  constructor(backend: StagingBackend, options: Partial<StagingOptions> = {}) {
    this.#backend = backend;
    this.#options = { threshold: options.threshold ?? MiB, chunk: options.chunk ?? 8 * MiB };
  }

  /** Bytes of pinned memory held (0 before the first staged upload or after `release`). */
  get pinnedBytes(): number {
    return this.#halves ? 2 * this.#options.chunk : 0;
  }

  /**
   * Queues a copy of `data` to device address `dst` on the stream. `data` may change as soon as
   * this returns: staged bytes are copied into pinned memory first.
   *
   * @param dst Device address.
   * @param data Host bytes.
   */
  upload(dst: bigint, data: Uint8Array): void {
    const halves = data.byteLength >= this.#options.threshold ? this.#stagingHalves() : null;
    if (!halves) return this.#backend.copy(dst, data);
    const { chunk } = this.#options;
    for (let offset = 0; offset < data.byteLength; offset += chunk) {
      const half = halves[this.#next];
      this.#next ^= 1;
      if (half.pending) this.#backend.wait(half.event); // its last copy has read the half
      const part = data.subarray(offset, Math.min(offset + chunk, data.byteLength));
      half.memory.set(part);
      this.#backend.copy(dst + BigInt(offset), half.memory.subarray(0, part.byteLength));
      this.#backend.record(half.event);
      half.pending = true;
    }
  }

  /** Waits for pending staged copies, then frees the pinned memory and events. */
  release(): void {
    if (!this.#halves) return;
    for (const half of this.#halves) {
      if (half.pending) this.#backend.wait(half.event);
      this.#backend.destroyEvent(half.event);
    }
    this.#backend.freePinned(this.#pinned!);
    this.#halves = null;
    this.#pinned = null;
  }

  #stagingHalves(): Half[] | null {
    if (this.#halves || this.#unavailable) return this.#halves;
    const memory = this.#backend.allocPinned(2 * this.#options.chunk);
    if (!memory) {
      this.#unavailable = true;
      return null;
    }
    const { chunk } = this.#options;
    this.#halves = [0, 1].map((i) => ({
      memory: memory.subarray(i * chunk, (i + 1) * chunk),
      event: this.#backend.createEvent(),
      pending: false,
    }));
    this.#pinned = memory;
    return this.#halves;
  }
}
