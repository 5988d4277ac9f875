import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Generator } from "../nn/random.ts";
import {
  batches,
  BatchLoader,
  cropPadded,
  DIGITS_NORMALIZATION,
  downloadCifar10,
  extractCifar10,
  horizontalFlip,
  type ImageDataset,
  loadCifar10,
  loadDigits,
  normalize,
  parseCifarBatch,
  prepareCifar10,
  randomCrop,
  randomHorizontalFlip,
  readTar,
  resizeBilinear,
  testTransform,
  toFloat,
  trainTransform,
} from "../scripts/data.ts";
import { assertClose, assertThrows, type CommandOutput, runDeno, testWith, withTempDir } from "./helpers.ts";

// ---------------------------------------------------------------------------------------------
// Fixtures: CIFAR-format records, tar archives written by hand, temp folders, a Range server.

const RECORD = 3073;
const RECORDS = 3; // per fake batch; the parser accepts it only through `recordsPerBatch`
const CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
const BATCHES = [
  "data_batch_1",
  "data_batch_2",
  "data_batch_3",
  "data_batch_4",
  "data_batch_5",
  "test_batch",
];

/** Batch `b`: record i has label (b + i) % 10 and pixel j = (31b + 7i + j) % 256. */
function fakeBatch(b: number, records = RECORDS): Uint8Array {
  const bytes = new Uint8Array(records * RECORD);
  for (let i = 0; i < records; i++) {
    bytes[i * RECORD] = (b + i) % 10;
    for (let j = 0; j < RECORD - 1; j++) bytes[i * RECORD + 1 + j] = (31 * b + 7 * i + j) % 256;
  }
  return bytes;
}

/** A ustar archive: one 512-byte header per file (checksum over the header), data padded to 512. */
function tarArchive(files: { name: string; data: Uint8Array; type?: string }[]): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const file of files) {
    const header = new Uint8Array(512);
    const put = (text: string, offset: number) => header.set(encoder.encode(text), offset);
    put(file.name, 0);
    put("0000644\0", 100);
    put("0001750\0", 108);
    put("0001750\0", 116);
    put(`${file.data.length.toString(8).padStart(11, "0")}\0`, 124);
    put("14367041370\0", 136);
    put("        ", 148);
    put(file.type ?? "0", 156);
    put("ustar\0" + "00", 257);
    const sum = header.reduce((s, b) => s + b, 0);
    put(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    parts.push(header, file.data, new Uint8Array((512 - (file.data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (out.set(p, offset), offset + p.length), 0);
  return out;
}

/** The fake CIFAR archive's members; `change` may replace or drop (undefined) one. */
function cifarMembers(change: Record<string, Uint8Array | undefined> = {}) {
  const members: Record<string, Uint8Array | undefined> = {
    "batches.meta.txt": new TextEncoder().encode(CLASSES.join("\n") + "\n\n"),
    ...Object.fromEntries(BATCHES.map((name, b) => [`${name}.bin`, fakeBatch(b)])),
    ...change,
  };
  return [
    { name: "cifar-10-batches-bin/", data: new Uint8Array(0), type: "5" },
    ...Object.entries(members).filter(([, data]) => data).map(([name, data]) => ({
      name: `cifar-10-batches-bin/${name}`,
      data: data!,
    })),
    { name: "cifar-10-batches-bin/readme.html", data: new TextEncoder().encode("<html></html>") },
  ];
}

function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** Names of the files under `dir` (recursively), relative to it. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) names.push(...await listFiles(join(dir, entry.name), `${prefix}${entry.name}/`));
      else names.push(prefix + entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

/** Serves `content` on 127.0.0.1 with Range support (unless `ignoreRange`); records Range headers. */
function rangeServer(
  content: Uint8Array<ArrayBuffer>,
  options: { ignoreRange?: boolean; status?: number } = {},
) {
  const ranges: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const range = request.headers.get("range");
    ranges.push(range);
    if (options.status) return new Response("no", { status: options.status });
    const start = Number(/^bytes=(\d+)-$/.exec(range ?? "")?.[1] ?? NaN);
    if (options.ignoreRange || Number.isNaN(start)) return new Response(content);
    if (start >= content.length) return new Response(null, { status: 416 });
    return new Response(content.subarray(start), {
      status: 206,
      headers: { "content-range": `bytes ${start}-${content.length - 1}/${content.length}` },
    });
  });
  return { url: `http://127.0.0.1:${server.addr.port}/cifar.tar.gz`, ranges, server };
}

// ---------------------------------------------------------------------------------------------
// CIFAR-10 format, tar, extraction, cache.

Deno.test("parseCifarBatch() reads labels and CHW pixels and rejects bad sizes and labels", () => {
  const { images, labels } = parseCifarBatch(fakeBatch(2), "b.bin", "fix it", { recordsPerBatch: RECORDS });
  assert.deepEqual([...labels], [2, 3, 4]);
  assert.equal(images.length, RECORDS * 3072);
  assert.equal(images[3072 + 1024 + 5], (31 * 2 + 7 + 1024 + 5) % 256); // record 1, green plane, pixel 5
  assertThrows(
    () => parseCifarBatch(fakeBatch(0).subarray(1), "b.bin", "fix it", { recordsPerBatch: RECORDS }),
    /^b\.bin has 9218 bytes, expected 9219 \(3 records of 3073 bytes\); fix it$/,
  );
  assertThrows(
    () => parseCifarBatch(fakeBatch(0), "b.bin", "fix it"),
    /has 9219 bytes, expected 30730000 \(10000 records of 3073 bytes\)/,
  );
  const badLabel = fakeBatch(0);
  badLabel[RECORD] = 200;
  assertThrows(
    () => parseCifarBatch(badLabel, "b.bin", "fix it", { recordsPerBatch: RECORDS }),
    /b\.bin record 1 has label 200, expected 0\.\.9/,
  );
});

Deno.test("readTar() returns regular files, skips directories, and validates header checksums", () => {
  const tar = tarArchive([
    { name: "d/", data: new Uint8Array(0), type: "5" },
    { name: "d/a.txt", data: new TextEncoder().encode("hello") },
    { name: "d/b.bin", data: new Uint8Array(600).fill(7) },
  ]);
  const entries = readTar(tar, "t.tar");
  assert.deepEqual(entries.map((e) => [e.name, e.data.length]), [["d/a.txt", 5], ["d/b.bin", 600]]);
  assert.equal(new TextDecoder().decode(entries[0].data), "hello");
  assert.ok(entries[1].data.every((b) => b === 7));
  const corrupt = tar.slice();
  corrupt[512 + 3] ^= 1; // a name byte of the second header
  assertThrows(() => readTar(corrupt, "t.tar"), /t\.tar has a corrupt tar header at byte 512/);
  assertThrows(
    () => readTar(tar.subarray(0, 1024 + 3), "t.tar"),
    /t\.tar is truncated: d\/a\.txt needs 5 bytes/,
  );
  assertThrows(() => readTar(tar.subarray(0, 1536 + 100), "t.tar"), /ends inside the header at byte 1536/);
  assert.equal(readTar(tar.subarray(0, 3072), "t.tar").length, 2, "no end-of-archive blocks is fine");
});

testWith("readTar() reads an archive made by the system tar (GNU headers, as in the real CIFAR-10)", [
  "read",
  "write",
  "run",
], async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "src/cifar-10-batches-bin"), { recursive: true });
    await Deno.writeFile(join(dir, "src/cifar-10-batches-bin/test_batch.bin"), fakeBatch(5));
    let output;
    try {
      output = await new Deno.Command("tar", {
        args: ["-czf", join(dir, "a.tar.gz"), "-C", join(dir, "src"), "."],
      })
        .output();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      console.log("no tar command on this machine: skipping the system tar comparison");
      return;
    }
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const { gunzipSync } = await import("node:zlib");
    const entries = readTar(gunzipSync(await Deno.readFile(join(dir, "a.tar.gz"))), "a.tar");
    assert.deepEqual(entries.map((e) => e.name), ["./cifar-10-batches-bin/test_batch.bin"]);
    assert.deepEqual(entries[0].data, fakeBatch(5));
  });
});

testWith("extractCifar10() writes the batches into the cache and loadCifar10() reads them back", [
  "read",
  "write",
], async () => {
  await withTempDir(async (dir) => {
    const archive = join(dir, "cifar-10-binary.tar.gz");
    await Deno.writeFile(archive, gzipSync(tarArchive(cifarMembers())));
    const folder = await extractCifar10(archive, dir, { recordsPerBatch: RECORDS });
    assert.equal(folder, join(dir, "cifar-10-batches-bin"));
    assert.deepEqual(
      await listFiles(folder),
      ["batches.meta.txt", ...BATCHES.map((b) => `${b}.bin`)].sort(),
    );
    const { train, test } = await loadCifar10(dir, { recordsPerBatch: RECORDS });
    assert.equal(train.count, 5 * RECORDS);
    assert.equal(test.count, RECORDS);
    assert.deepEqual(train.classes, CLASSES);
    assert.equal(train.name, "cifar10");
    assert.deepEqual([train.channels, train.height, train.width], [3, 32, 32]);
    assert.deepEqual([...train.labels], [0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4, 5, 4, 5, 6]);
    assert.deepEqual([...test.labels], [5, 6, 7]);
    // Image 4 of train is record 1 of data_batch_2 (b = 1).
    const expected = fakeBatch(1).subarray(RECORD + 1, 2 * RECORD);
    assert.deepEqual(train.images.subarray(4 * 3072, 5 * 3072), expected);
  });
});

testWith(
  "extractCifar10() rejects a corrupt archive and leaves no cache file",
  ["read", "write"],
  async () => {
    const good = gzipSync(tarArchive(cifarMembers()));
    const badChecksum = tarArchive(cifarMembers());
    badChecksum[512 * 3 + 10] ^= 0x20; // inside the name of a later header
    const cases: [string, Uint8Array, RegExp][] = [
      [
        "not gzip",
        new TextEncoder().encode("this is not a gzip file"),
        /is not a valid gzip file .*; delete .* and run/,
      ],
      ["truncated gzip", good.subarray(0, good.length - 100), /is not a valid gzip file/],
      ["bad tar checksum", gzipSync(badChecksum), /has a corrupt tar header at byte \d+ \(checksum/],
      [
        "truncated batch",
        gzipSync(tarArchive(cifarMembers({ "data_batch_3.bin": fakeBatch(2).subarray(1) }))),
        /cifar-10-batches-bin\/data_batch_3\.bin in .* has 9218 bytes, expected 9219 \(3 records of 3073 bytes\)/,
      ],
      [
        "missing batch",
        gzipSync(tarArchive(cifarMembers({ "test_batch.bin": undefined }))),
        /has no cifar-10-batches-bin\/test_batch\.bin; delete .* and run deno task data --dataset cifar10 again/,
      ],
    ];
    await withTempDir(async (dir) => {
      await assert.rejects(
        extractCifar10(join(dir, "missing.tar.gz"), dir),
        /missing\.tar\.gz does not exist; run deno task data --dataset cifar10 to download it/,
      );
    });
    for (const [label, bytes, pattern] of cases) {
      await withTempDir(async (dir) => {
        const archive = join(dir, "cifar-10-binary.tar.gz");
        await Deno.writeFile(archive, bytes);
        await assert.rejects(extractCifar10(archive, dir, { recordsPerBatch: RECORDS }), pattern, label);
        assert.deepEqual(await listFiles(dir), ["cifar-10-binary.tar.gz"], `${label}: cache files left`);
      });
    }
  },
);

testWith(
  "loadCifar10() explains an empty cache and a truncated cached batch",
  ["read", "write"],
  async () => {
    await withTempDir(async (dir) => {
      await assert.rejects(
        loadCifar10(dir),
        /CIFAR-10 is not prepared in .* run deno task data --dataset cifar10 first.*--dataset digits/,
      );
      const archive = join(dir, "cifar-10-binary.tar.gz");
      await Deno.writeFile(archive, gzipSync(tarArchive(cifarMembers())));
      await extractCifar10(archive, dir, { recordsPerBatch: RECORDS });
      const batch = join(dir, "cifar-10-batches-bin", "data_batch_3.bin");
      await Deno.writeFile(batch, fakeBatch(2).subarray(1));
      await assert.rejects(
        loadCifar10(dir, { recordsPerBatch: RECORDS }),
        /data_batch_3\.bin has 9218 bytes, expected 9219 \(3 records of 3073 bytes\); delete it and run deno task data --dataset cifar10 again/,
      );
    });
  },
);

testWith(
  "prepareCifar10() extracts a manually placed archive without the network",
  ["read", "write"],
  async () => {
    await withTempDir(async (dir) => {
      const bytes = gzipSync(tarArchive(cifarMembers()));
      await Deno.writeFile(join(dir, "cifar-10-binary.tar.gz"), bytes);
      const options = {
        url: "http://127.0.0.1:9/x",
        md5: md5(bytes),
        size: bytes.length,
        recordsPerBatch: RECORDS,
      };
      const { train, test } = await prepareCifar10(dir, options);
      assert.deepEqual([train.count, test.count], [15, 3]);
      await assert.rejects(
        downloadCifar10(dir, { ...options, md5: "0".repeat(32) }),
        /cifar-10-binary\.tar\.gz has MD5 [0-9a-f]{32}, expected 0{32}; delete it and run deno task data/,
      );
    });
  },
);

// ---------------------------------------------------------------------------------------------
// Download.

testWith(
  "downloadCifar10() without a network says how to get the data and suggests digits",
  ["read", "write", "net"],
  async () => {
    await withTempDir(async (dir) => {
      await assert.rejects(
        downloadCifar10(dir, { url: "http://127.0.0.1:9/x", md5: "0".repeat(32), size: 10 }),
        /Cannot reach http:\/\/127\.0\.0\.1:9\/x .*download .* manually to .*cifar-10-binary\.tar\.gz .*--dataset digits/,
      );
      assert.deepEqual(await listFiles(dir), []);
    });
  },
);

testWith(
  "downloadCifar10() resumes a partial download with Range, restarting when needed",
  ["read", "write", "net"],
  async () => {
    const content = new Uint8Array(100_000).map((_, i) => (i * 2654435761) >>> 24);
    const expected = { md5: md5(content), size: content.length };
    const scenarios: [string, { ignoreRange?: boolean }, Uint8Array, (string | null)[]][] = [
      ["resume", {}, content.subarray(0, 40_000), ["bytes=40000-"]],
      ["server ignores Range", { ignoreRange: true }, content.subarray(0, 40_000), ["bytes=40000-"]],
      ["corrupt partial file", {}, new Uint8Array(40_000), ["bytes=40000-", null]],
      ["partial file too long", {}, new Uint8Array(200_000), [null]],
      ["complete partial file", {}, content, []],
      ["no partial file", {}, new Uint8Array(0), [null]],
    ];
    for (const [label, serverOptions, partial, ranges] of scenarios) {
      const { url, ranges: seen, server } = rangeServer(content, serverOptions);
      try {
        await withTempDir(async (dir) => {
          const archive = join(dir, "cifar-10-binary.tar.gz");
          if (partial.length) await Deno.writeFile(`${archive}.part`, partial);
          const progress: number[] = [];
          const path = await downloadCifar10(dir, {
            ...expected,
            url,
            onProgress: (done) => progress.push(done),
          });
          assert.equal(path, archive, label);
          assert.deepEqual(await Deno.readFile(archive), content, label);
          assert.deepEqual(await listFiles(dir), ["cifar-10-binary.tar.gz"], label);
          assert.deepEqual(seen, ranges, label);
          if (ranges.length) assert.equal(progress.at(-1), content.length, label);
        });
      } finally {
        await server.shutdown();
      }
    }
  },
);

testWith(
  "downloadCifar10() deletes a download with the wrong checksum or reports HTTP errors",
  ["read", "write", "net"],
  async () => {
    const content = new Uint8Array(5000).fill(1);
    const { url, server } = rangeServer(content);
    const missing = rangeServer(content, { status: 404 });
    try {
      await withTempDir(async (dir) => {
        await assert.rejects(
          downloadCifar10(dir, { url, md5: "0".repeat(32), size: content.length }),
          /has MD5 [0-9a-f]{32}, expected 0{32}; the file was deleted/,
        );
        await assert.rejects(
          downloadCifar10(dir, { url, md5: md5(content), size: content.length + 1 }),
          /stopped after 5000 of 5001 bytes; run the command again to resume/,
        );
        await Deno.remove(join(dir, "cifar-10-binary.tar.gz.part"));
        await assert.rejects(
          downloadCifar10(dir, { url: missing.url, md5: md5(content), size: content.length }),
          /failed: HTTP 404/,
        );
        assert.deepEqual(await listFiles(dir), []);
      });
    } finally {
      await server.shutdown();
      await missing.server.shutdown();
    }
  },
);

// ---------------------------------------------------------------------------------------------
// Digits.

Deno.test("loadDigits() gives 3x32x32 padded digits in disjoint, deterministic, balanced splits", async () => {
  const first = await loadDigits();
  const second = await loadDigits();
  const { train, test } = first;
  assert.deepEqual([train.count, test.count], [8500, 1500]);
  assert.deepEqual(train.classes, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  const hashes = (d: ImageDataset): string[] =>
    Array.from({ length: d.count }, (_, i) => md5(d.images.subarray(i * 3072, (i + 1) * 3072)));
  for (const d of [train, test]) {
    assert.deepEqual([d.name, d.channels, d.height, d.width], ["digits", 3, 32, 32]);
    assert.equal(d.images.length, d.count * 3 * 32 * 32);
    assert.equal(d.labels.length, d.count);
    assert.ok(d.labels.every((l) => l < 10));
    const counts = new Array(10).fill(0);
    d.labels.forEach((l) => counts[l]++);
    for (const c of counts) assert.ok(c > 0.06 * d.count && c < 0.14 * d.count, `class counts ${counts}`);
    for (let i = 0; i < d.count; i += 97) {
      const image = d.images.subarray(i * 3072, (i + 1) * 3072);
      assert.deepEqual(image.subarray(0, 1024), image.subarray(1024, 2048));
      assert.deepEqual(image.subarray(0, 1024), image.subarray(2048));
      for (let k = 0; k < 32; k++) {
        for (const [y, x] of [[0, k], [1, k], [30, k], [31, k], [k, 0], [k, 1], [k, 30], [k, 31]]) {
          assert.equal(image[y * 32 + x], 0, `padding of image ${i}`);
        }
      }
      assert.ok(image.some((v) => v > 200), `image ${i} has ink`);
    }
  }
  const trainHashes = new Set(hashes(train));
  assert.equal(trainHashes.size, train.count);
  assert.ok(hashes(test).every((h) => !trainHashes.has(h)), "a test image also appears in train");
  assert.deepEqual(second.train.labels, train.labels);
  assert.deepEqual(second.test.labels, test.labels);
  assert.deepEqual(md5(second.train.images), md5(train.images));
  assert.deepEqual(md5(second.test.images), md5(test.images));
});

Deno.test("DIGITS_NORMALIZATION matches the statistics of the digits training split", async () => {
  const { train } = await loadDigits();
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < train.count; i++) {
    const plane = train.images.subarray(i * 3072, i * 3072 + 1024);
    for (const v of plane) {
      sum += v / 255;
      squares += (v / 255) ** 2;
    }
  }
  const n = train.count * 1024;
  const mean = sum / n;
  assertClose(DIGITS_NORMALIZATION.mean, [mean, mean, mean], { atol: 6e-5, rtol: 0 }, "mean");
  const std = Math.sqrt(squares / n - mean * mean);
  assertClose(DIGITS_NORMALIZATION.std, [std, std, std], { atol: 6e-5, rtol: 0 }, "std");
});

// ---------------------------------------------------------------------------------------------
// Transforms.

Deno.test("toFloat() scales bytes to [0, 1] and normalize() works per channel", () => {
  assertClose(toFloat(new Uint8Array([0, 51, 255])), [0, 0.2, 1]);
  const out = new Float32Array(3);
  assert.equal(toFloat(new Uint8Array([255, 0, 0]), out), out);
  // Two images of 3 channels x 2 pixels: (x - mean[c]) / std[c].
  const batch = new Float32Array([1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
  normalize(batch, [1, 2, 3], [1, 2, 4], 2);
  assertClose(batch, [0, 1, 0.5, 1, 0.5, 0.75, 0, 1, 0.5, 1, 0.5, 0.75]);
  assertClose(normalize(new Float32Array([0.5, 0.5, 0.5]), [0.5, 0, 0], [1, 1, 0.5]), [0, 0.5, 1]);
  assertThrows(
    () => normalize(new Float32Array(7), [0, 0, 0], [1, 1, 1], 2),
    /pass planeSize = height \* width/,
  );
});

Deno.test("resizeBilinear() matches hand-computed half-pixel values and PyTorch", () => {
  // 2x2 -> 4x4 by hand: output centres map to source -0.25 (clamped to 0), 0.25, 0.75, 1.25 (far
  // neighbour clamped), so each row is a, a + d/4, a + 3d/4, b.
  const up = resizeBilinear(new Float32Array([1, 2, 3, 4]), 2, 2, 4, 4);
  assertClose(up, [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
  // Reference values from PyTorch 1.13 (/usr/bin/python3):
  //   b = torch.arange(12, dtype=torch.float32).view(1, 1, 3, 4) ** 1.5 / 10
  //   F.interpolate(b, (5, 3), mode="bilinear", align_corners=False).flatten().tolist()
  const b = Float32Array.from({ length: 12 }, (_, i) => Math.fround(i ** 1.5) / 10);
  assertClose(resizeBilinear(b, 3, 4, 5, 3), [
    0.01666666939854622,
    0.19142135977745056,
    0.4801531732082367,
    0.3512022793292999,
    0.6323984265327454,
    1.0034135580062866,
    0.8530057668685913,
    1.2938640117645264,
    1.788304090499878,
    1.7425731420516968,
    2.2762291431427,
    2.8556931018829346,
    2.335618019104004,
    2.9311389923095703,
    3.5672855377197266,
  ], { rtol: 1e-5, atol: 1e-6 });
  //   c = torch.arange(2 * 5 * 5, dtype=torch.float32).view(1, 2, 5, 5) % 7
  //   F.interpolate(c, (2, 3), mode="bilinear", align_corners=False).flatten().tolist()
  const c = Float32Array.from({ length: 50 }, (_, i) => i % 7);
  assertClose(resizeBilinear(c, 5, 5, 2, 3), [
    4.083333492279053,
    0.5000002384185791,
    2.1666665077209473,
    2.0,
    2.5,
    4.166666507720947,
    2.8333332538604736,
    4.5,
    4.416666507720947,
    4.833333492279053,
    1.250000238418579,
    1.75,
  ], { rtol: 1e-5, atol: 1e-6 });
  assert.deepEqual(resizeBilinear(c, 5, 5, 5, 5), c);
});

Deno.test("cropPadded(), randomCrop() and the flips follow torchvision's RandomCrop / RandomHorizontalFlip", () => {
  const image = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]); // 2 channels of 2x2
  assert.deepEqual([...cropPadded(image, 2, 2, 2, 1, 0, 0)], [0, 0, 0, 1, 0, 0, 0, 5]);
  assert.deepEqual([...cropPadded(image, 2, 2, 2, 1, 2, 2)], [4, 0, 0, 0, 8, 0, 0, 0]);
  assert.deepEqual([...cropPadded(image, 2, 2, 2, 1, 1, 1)], [...image]);
  assert.deepEqual([...cropPadded(image, 2, 2, 3, 1, 0, 1)], [
    0,
    0,
    0,
    1,
    2,
    0,
    3,
    4,
    0,
    0,
    0,
    0,
    5,
    6,
    0,
    7,
    8,
    0,
  ]);
  // randomCrop draws the row, then the column, uniformly in 0..2 * padding.
  const big = Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => i);
  const positions = new Set<string>();
  const g = new Generator(5);
  const mirror = new Generator(5);
  for (let k = 0; k < 400; k++) {
    const crop = randomCrop(big, 32, 32, 32, 4, g);
    const top = mirror.int(9);
    const left = mirror.int(9);
    positions.add(`${top},${left}`);
    if (k < 20) assert.deepEqual(crop, cropPadded(big, 32, 32, 32, 4, top, left));
  }
  assert.ok(positions.size > 70, `only ${positions.size} of 81 crop positions seen in 400 draws`);
  assertThrows(
    () => randomCrop(big, 32, 32, 41, 4, g),
    /a 41x41 crop does not fit a 32x32 image padded by 4/,
  );

  assert.deepEqual([...horizontalFlip(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), 2, 3)], [
    3,
    2,
    1,
    6,
    5,
    4,
    9,
    8,
    7,
    12,
    11,
    10,
  ]);
  const flips = new Generator(9);
  const mirrorFlips = new Generator(9);
  let flipped = 0;
  for (let k = 0; k < 2000; k++) {
    const result = randomHorizontalFlip(new Float32Array([1, 2]), 1, 2, flips);
    assert.equal(result[0] === 2, mirrorFlips.uniform() < 0.5);
    flipped += result[0] === 2 ? 1 : 0;
  }
  assert.ok(Math.abs(flipped / 2000 - 0.5) < 0.05, `flip rate ${flipped / 2000}`);
});

Deno.test("trainTransform() and testTransform() compose the documented steps", () => {
  const bytes = Uint8Array.from({ length: 3 * 8 * 8 }, (_, i) => (i * 37) % 256);
  const norm = { mean: [0.5, 0.4, 0.3] as const, std: [0.2, 0.25, 0.3] as const };
  const test = testTransform({ height: 8, width: 8, imageSize: 12, ...norm });
  const out = new Float32Array(3 * 12 * 12);
  test.apply(bytes, new Generator(0), out);
  const expected = normalize(resizeBilinear(toFloat(bytes), 8, 8, 12, 12), norm.mean, norm.std);
  assertClose(out, expected);

  const train = trainTransform({ height: 8, width: 8, imageSize: 12, padding: 2, ...norm });
  train.apply(bytes, new Generator(3), out);
  const g = new Generator(3);
  const manual = randomHorizontalFlip(randomCrop(toFloat(bytes), 8, 8, 8, 2, g), 8, 8, g);
  assertClose(out, normalize(resizeBilinear(manual, 8, 8, 12, 12), norm.mean, norm.std));
  assertThrows(
    () => trainTransform({ height: 8, width: 6, imageSize: 8, ...norm }),
    /images must be square, got 8x6/,
  );
});

// ---------------------------------------------------------------------------------------------
// Batching.

/** Image i is filled with the value i; its label is i % 3. */
function countingDataset(count: number): ImageDataset {
  const images = new Uint8Array(count * 3 * 4 * 4);
  for (let i = 0; i < count; i++) images.fill(i, i * 48, (i + 1) * 48);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 3);
  return {
    name: "counting",
    images,
    labels,
    count,
    channels: 3,
    height: 4,
    width: 4,
    classes: ["a", "b", "c"],
  };
}

const identity = testTransform({ height: 4, width: 4, imageSize: 4, mean: [0, 0, 0], std: [1, 1, 1] });

/** The sample indices of an epoch, read back from the image values. */
function epochOrder(loader: BatchLoader): number[][] {
  return [...loader.epoch()].map((batch) => {
    assert.equal(batch.images.length, batch.count * 48);
    return Array.from({ length: batch.count }, (_, k) => {
      const index = Math.round(batch.images[k * 48] * 255);
      assert.equal(batch.labels[k], index % 3);
      return index;
    });
  });
}

Deno.test("BatchLoader covers every sample once per epoch, with drop-last and limit", () => {
  const dataset = countingDataset(10);
  const plain = new BatchLoader(dataset, { batchSize: 4, transform: identity });
  assert.equal(plain.length, 3);
  assert.deepEqual(epochOrder(plain), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  const shuffled = new BatchLoader(dataset, { batchSize: 4, transform: identity, shuffle: true, seed: 1 });
  const order = epochOrder(shuffled);
  assert.deepEqual(order.map((b) => b.length), [4, 4, 2]);
  assert.deepEqual(order.flat().sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.notDeepEqual(order.flat(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const dropLast = new BatchLoader(dataset, { batchSize: 4, transform: identity, dropLast: true });
  assert.equal(dropLast.length, 2);
  assert.deepEqual(epochOrder(dropLast), [[0, 1, 2, 3], [4, 5, 6, 7]]);
  const limited = new BatchLoader(dataset, { batchSize: 2, transform: identity, shuffle: true, limit: 5 });
  assert.equal(limited.count, 5);
  assert.deepEqual(epochOrder(limited).flat().sort(), [0, 1, 2, 3, 4]);
  assert.deepEqual([...batches(dataset, { batchSize: 6, transform: identity })].map((b) => b.count), [6, 4]);
  const labels = [...new BatchLoader(dataset, { batchSize: 10, transform: identity })][0].labels;
  assert.ok(labels instanceof Int32Array);
  assertThrows(
    () => new BatchLoader(dataset, { batchSize: 0, transform: identity }),
    /batchSize must be a positive/,
  );
  assertThrows(
    () => new BatchLoader(dataset, { batchSize: 2, transform: identity, limit: 0 }),
    /limit must be/,
  );
});

Deno.test("BatchLoader shuffling is seeded, differs between epochs, and resumes from a saved state", () => {
  const dataset = countingDataset(50);
  const options = { batchSize: 8, transform: identity, shuffle: true };
  const a = new BatchLoader(dataset, { ...options, seed: 7 });
  const b = new BatchLoader(dataset, { ...options, seed: 7 });
  const c = new BatchLoader(dataset, { ...options, seed: 8 });
  const epochA = epochOrder(a).flat();
  assert.deepEqual(epochOrder(b).flat(), epochA);
  assert.notDeepEqual(epochOrder(c).flat(), epochA);
  assert.notDeepEqual(epochOrder(a).flat(), epochA, "two epochs had the same order");

  // Resume with augmentation: the state saved after epoch 1 reproduces epoch 2, images included.
  const augment = trainTransform({
    height: 4,
    width: 4,
    imageSize: 6,
    padding: 1,
    mean: [0, 0, 0],
    std: [1, 1, 1],
  });
  const original = new BatchLoader(dataset, { batchSize: 8, transform: augment, shuffle: true, seed: 3 });
  [...original.epoch()];
  const saved = original.getState();
  const next = [...original.epoch()];
  const resumed = new BatchLoader(dataset, { batchSize: 8, transform: augment, shuffle: true, seed: 999 });
  resumed.setState(saved);
  const replay = [...resumed.epoch()];
  assert.equal(replay.length, next.length);
  replay.forEach((batch, i) => {
    assert.deepEqual(batch.labels, next[i].labels);
    assert.deepEqual(batch.images, next[i].images);
  });
});

// ---------------------------------------------------------------------------------------------
// CLI.

const CLI = new URL("../scripts/data.ts", import.meta.url).href;

const runCli = (...args: string[]): Promise<CommandOutput> => runDeno(["run", CLI, ...args]);

testWith("CLI: --help exits 0, bad arguments exit 2 with one line on stderr", ["run", "read"], async () => {
  const help = await runCli("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno task data/);
  for (const args of [["--bogus"], ["--dataset", "svhn"], ["stray"], ["--dataset"]]) {
    const { code, stdout, stderr } = await runCli(...args);
    assert.equal(code, 2, `${args}: exit code`);
    assert.equal(stdout, "");
    assert.match(stderr, /^error: [^\n]+\n$/, `${args}: ${stderr}`);
  }
});

testWith("CLI: --dataset digits prints the split counts without downloading", ["run", "read"], async () => {
  const { code, stdout, stderr } = await runCli("--dataset", "digits");
  assert.equal(code, 0, stderr);
  assert.match(stdout, /digits train: 8500 images, 3x32x32\ndigits test: 1500 images, 3x32x32\n/);
});
