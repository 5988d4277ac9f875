/**
 * How a convolution picks its algorithm: `cudnnFind*` first, retried once with the caching
 * allocator's blocks released when it fails in a way that can be a memory shortage, then the
 * `_v7` heuristic, with one warning line the first time a device falls back.
 *
 * Find allocates its own scratch with `cudaMalloc`, outside the caching allocator. Once the
 * cache holds most of the GPU, Find for a new shape fails, and without the retry the algorithm
 * a shape gets would depend on the memory history of the run.
 *
 * @module
 */

import { CudaCallError } from "./check.ts";

/** An algorithm and the math type it ran with. */
export interface AlgorithmChoice {
  algo: number;
  mathType: number;
}

/** The calls one search makes; the real ones go to cuDNN and the allocator, tests pass fakes. */
export interface AlgorithmSearch {
  /** Runs `cudnnFind*`: the pick, null when no algorithm ran; throws a {@linkcode CudaCallError}. */
  find(): AlgorithmChoice | null;
  /** Runs the `_v7` heuristic: the pick, null when none; throws a {@linkcode CudaCallError}. */
  heuristic(): AlgorithmChoice | null;
  /** Waits for the device and releases every cached block to the driver. */
  releaseCache(): void;
  /** Reports the fallback to the heuristic (called at most once per device, by the caller's flag). */
  warn(line: string): void;
}

/**
 * cuDNN 9 statuses a failed Find can return when it runs out of memory: the generic internal
 * error, host or device allocation failed (`CUDNN_STATUS_ALLOC_FAILED` is 4003 in cuDNN 9), and
 * execution failures (a failed `cudaMalloc` inside a timed run).
 */
const MEMORY_STATUSES = new Set([4000, 4003, 4004, 5000, 5001, 5003]);

/**
 * Whether a failed cuDNN call may have failed for lack of memory.
 *
 * @param status A cuDNN status code.
 * @returns True for the allocation, internal and execution failure codes.
 * @example
 * ```ts
 * import { mayBeOutOfMemory } from "./conv_search.ts";
 * mayBeOutOfMemory(4004); // true: CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED
 * mayBeOutOfMemory(2000); // false: CUDNN_STATUS_BAD_PARAM
 * ```
 */
export function mayBeOutOfMemory(status: number): boolean {
  return MEMORY_STATUSES.has(status);
}

/**
 * Find, then Find again after releasing the cache when the failure can be memory, then the
 * heuristic (warning once per device, through `state.warned`).
 *
 * @param label What is searched, for messages, e.g. `"forward convolution"`.
 * @param search The calls (cuDNN's, or fakes).
 * @param state Per-device state: whether the fallback was already reported.
 * @returns The chosen algorithm.
 * @throws When neither Find nor the heuristic yields an algorithm.
 * @example
 * ```ts
 * import { searchAlgorithm } from "./conv_search.ts";
 * const choice = searchAlgorithm("forward convolution", {
 *   find: () => ({ algo: 1, mathType: 0 }),
 *   heuristic: () => ({ algo: 0, mathType: 0 }),
 *   releaseCache: () => {},
 *   warn: console.warn,
 * }, { warned: false });
 * choice.algo; // 1
 * ```
 */
export function searchAlgorithm(
  label: string,
  search: AlgorithmSearch,
  state: { warned: boolean },
): AlgorithmChoice {
  const failures: string[] = [];
  const attempt = (run: () => AlgorithmChoice | null, name: string): AlgorithmChoice | null | CudaCallError => {
    try {
      const choice = run();
      if (!choice) failures.push(`${name}: no algorithm ran successfully`);
      return choice;
    } catch (error) {
      if (!(error instanceof CudaCallError)) throw error;
      failures.push(error.message);
      return error;
    }
  };
  let found = attempt(search.find, "find");
  if (found instanceof CudaCallError && mayBeOutOfMemory(found.status)) {
    search.releaseCache();
    found = attempt(search.find, "find after releasing the cache");
  }
  if (found && !(found instanceof CudaCallError)) return found;
  const guessed = attempt(search.heuristic, "heuristic");
  if (guessed && !(guessed instanceof CudaCallError)) {
    if (!state.warned) {
      state.warned = true;
      search.warn(
        `cuDNN could not time ${label} algorithms (${failures[failures.length - 1]}); ` +
          `using cuDNN's heuristic pick for this and later shapes that fail the same way`,
      );
    }
    return guessed;
  }
  throw new Error(`No cuDNN ${label} algorithm: ${failures.join("; ")}; free GPU memory or reduce the batch size`);
}
