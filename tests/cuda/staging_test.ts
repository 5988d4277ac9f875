/**
 * Pinned staging of uploads on the CPU: a fake stream that runs queued copies only when the host
 * waits, so a staging half overwritten too early would put wrong bytes on the "device".
 */

import assert from "node:assert/strict";
import { StagedUploads, type StagingBackend } from "../../nn/cuda/staging.ts";

/** A device of `bytes` bytes behind a stream that runs its queue lazily. */
function fakeStream(bytes: number, pinnedAvailable = true) {
  const device = new Uint8Array(bytes);
  const queue: ({ dst: number; src: Uint8Array } | { event: bigint })[] = [];
  const log = { pinned: 0, freed: 0, staged: 0, pageable: 0, waits: 0, events: new Set<bigint>() };
  let pinned: Uint8Array | null = null;
  let nextEvent = 1n;
  const runUntil = (event?: bigint) => {
    while (queue.length > 0) {
      const op = queue.shift()!;
      if ("event" in op) {
        if (op.event === event) return;
      } else device.set(op.src, op.dst);
    }
  };
  const backend: StagingBackend = {
    allocPinned: (n) => {
      if (!pinnedAvailable) return null;
      log.pinned += n;
      return pinned = new Uint8Array(n);
    },
    freePinned: (memory) => {
      assert.equal(memory, pinned, "frees the whole allocation");
      log.freed++;
    },
    createEvent: () => {
      log.events.add(nextEvent);
      return nextEvent++;
    },
    destroyEvent: (e) => assert.ok(log.events.delete(e)),
    record: (event) => queue.push({ event }),
    wait: (event) => {
      log.waits++;
      runUntil(event);
    },
    copy: (dst, src) => {
      if (pinned && src.buffer === pinned.buffer) {
        log.staged++;
        queue.push({ dst: Number(dst), src }); // read when the stream gets to it
      } else {
        log.pageable++;
        runUntil(); // a pageable copy is ordered after earlier work and consumes src before returning
        device.set(src, Number(dst));
      }
    },
  };
  return { device, backend, log, finish: () => runUntil() };
}

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
}

Deno.test("large uploads go through the pinned halves in chunks, never overwriting a half still queued", () => {
  const s = fakeStream(4096);
  const uploads = new StagedUploads(s.backend, { threshold: 256, chunk: 100 });
  const a = pattern(1000, 1), b = pattern(350, 2);
  uploads.upload(8n, a);
  uploads.upload(2048n, b);
  a.fill(0); // the caller may reuse its array at once
  s.finish();
  assert.deepEqual(s.device.subarray(8, 1008), pattern(1000, 1));
  assert.deepEqual(s.device.subarray(2048, 2398), b);
  assert.equal(s.log.staged, 10 + 4, "ceil(1000 / 100) + ceil(350 / 100) chunks");
  assert.equal(s.log.waits, 14 - 2, "every reuse of a half waits for its last copy");
  assert.equal(s.log.pinned, 200, "allocated once");
  assert.equal(uploads.pinnedBytes, 200);
  uploads.release();
  assert.equal(s.log.freed, 1);
  assert.equal(s.log.events.size, 0, "both events destroyed");
  assert.equal(uploads.pinnedBytes, 0);
});

Deno.test("small uploads stay pageable and are ordered with staged ones", () => {
  const s = fakeStream(1024);
  const uploads = new StagedUploads(s.backend, { threshold: 256, chunk: 128 });
  uploads.upload(0n, pattern(255, 3));
  assert.equal(s.log.pinned, 0, "no pinned memory until an upload reaches the threshold");
  uploads.upload(0n, pattern(300, 4));
  uploads.upload(0n, pattern(10, 5)); // lands after the staged copy it overlaps
  s.finish();
  const want = pattern(300, 4);
  want.set(pattern(10, 5));
  assert.deepEqual(s.device.subarray(0, 300), want);
  assert.deepEqual([s.log.pageable, s.log.staged], [2, 3]);
  uploads.release();
  uploads.release();
  assert.equal(s.log.freed, 1, "a second release does nothing");
});

Deno.test("without pinned memory every upload is pageable", () => {
  const s = fakeStream(2048, false);
  const uploads = new StagedUploads(s.backend, { threshold: 16, chunk: 64 });
  uploads.upload(0n, pattern(1000, 6));
  uploads.upload(1000n, pattern(1000, 7));
  s.finish();
  assert.deepEqual(s.device.subarray(0, 1000), pattern(1000, 6));
  assert.deepEqual([s.log.pageable, s.log.staged, uploads.pinnedBytes], [2, 0, 0]);
  uploads.release();
});
