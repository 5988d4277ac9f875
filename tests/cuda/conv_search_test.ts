/**
 * The convolution algorithm search on the CPU: a fake GPU whose `cudnnFind*` needs free memory
 * that the caching allocator may hold, as on a real device after a few training steps.
 */

import assert from "node:assert/strict";
import { CachingAllocator } from "../../nn/cuda/allocator.ts";
import { CudaCallError } from "../../nn/cuda/check.ts";
import { type AlgorithmChoice, mayBeOutOfMemory, searchAlgorithm } from "../../nn/cuda/conv_search.ts";
import { assertThrows } from "../helpers.ts";

const DEVICE_ALLOCATION_FAILED = 4004;
const BAD_PARAM = 2000;

/** A device of `capacity` bytes, an allocator over it, and a Find that needs `scratch` bytes free. */
function fakeGpu(capacity: number, scratch: number) {
  let used = 0, next = 1n;
  const log: string[] = [];
  const allocator = new CachingAllocator({
    malloc: (bytes) => used + Number(bytes) > capacity ? null : (used += Number(bytes), next++),
    free: () => {
      used -= 1024;
      log.push("free");
    },
    synchronize: () => log.push("sync"),
  });
  const find = (): AlgorithmChoice => {
    log.push("find");
    if (capacity - used < scratch) {
      throw new CudaCallError("cudnnFindConvolutionForwardAlgorithm", DEVICE_ALLOCATION_FAILED, "out of memory");
    }
    return { algo: 7, mathType: 0 };
  };
  return { allocator, find, log };
}

Deno.test("Find that runs out of memory is retried once after the allocator's cache is released", () => {
  const gpu = fakeGpu(4096, 2048);
  const blocks = [0, 1, 2, 3].map(() => gpu.allocator.alloc(1024));
  for (const b of blocks) gpu.allocator.free(b); // the cache now holds the whole device
  const warnings: string[] = [];
  const choice = searchAlgorithm("forward convolution", {
    find: gpu.find,
    heuristic: () => assert.fail("the heuristic must not run when the retry succeeds"),
    releaseCache: () => gpu.allocator.emptyCache(),
    warn: (line) => warnings.push(line),
  }, { warned: false });
  assert.deepEqual(choice, { algo: 7, mathType: 0 });
  assert.deepEqual(gpu.log, ["find", "sync", "free", "free", "free", "free", "find"], "synchronises before freeing");
  assert.equal(gpu.allocator.reservedBytes, 0);
  assert.deepEqual(warnings, []);
});

Deno.test("the heuristic fallback warns once per device, in one line", () => {
  const gpu = fakeGpu(4096, 2048);
  const held = [0, 1, 2, 3].map(() => gpu.allocator.alloc(1024)); // live tensors: nothing to release
  const warnings: string[] = [];
  const state = { warned: false };
  const search = {
    find: gpu.find,
    heuristic: () => ({ algo: 1, mathType: 0 }),
    releaseCache: () => gpu.allocator.emptyCache(),
    warn: (line: string) => warnings.push(line),
  };
  assert.deepEqual(searchAlgorithm("forward convolution", search, state), { algo: 1, mathType: 0 });
  assert.deepEqual(searchAlgorithm("forward convolution", search, state), { algo: 1, mathType: 0 });
  assert.equal(gpu.log.filter((c) => c === "find").length, 4, "each search tries Find twice");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /^cuDNN could not time forward convolution algorithms \(out of memory\); using/);
  assert.ok(!warnings[0].includes("\n"));
  for (const b of held) gpu.allocator.free(b);
});

Deno.test("Find failures that are not memory go straight to the heuristic; no algorithm at all is an error", () => {
  let releases = 0;
  const badParam = () => {
    throw new CudaCallError("cudnnFindConvolutionForwardAlgorithm", BAD_PARAM, "bad param");
  };
  const state = { warned: false };
  const choice = searchAlgorithm("backwardData convolution", {
    find: badParam,
    heuristic: () => ({ algo: 0, mathType: 0 }),
    releaseCache: () => releases++,
    warn: () => {},
  }, state);
  assert.deepEqual(choice, { algo: 0, mathType: 0 });
  assert.equal(releases, 0);
  assert.ok(state.warned);
  assertThrows(
    () =>
      searchAlgorithm("backwardFilter convolution", {
        find: () => null,
        heuristic: badParam,
        releaseCache: () => releases++,
        warn: () => {},
      }, { warned: false }),
    /^No cuDNN backwardFilter convolution algorithm: find: no algorithm ran successfully; bad param; free GPU/,
  );
  assert.ok(mayBeOutOfMemory(4000) && mayBeOutOfMemory(4003) && !mayBeOutOfMemory(3000));
});
